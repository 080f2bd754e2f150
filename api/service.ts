/** How a method streams: one message each way, a response stream, a request stream, or both. */
export type MethodKind = 'unary' | 'server' | 'client' | 'bidi';

/** The methods a generated XxxDefinition names (without grpc-js's string index signature). */
type MethodNames<D> = keyof { [M in keyof D as string extends M ? never : number extends M ? never : M]: D[M] };

/**
 * A gRPC service of the contract: its folder under api/proto/, its full name and the kind of
 * each method. D and H are the generated XxxDefinition and XxxHandlers, carried as types only,
 * so that clients (transport/typed.ts) and servers take their message types from the service.
 */
export class Service<D, H, K extends Record<string, MethodKind>> {
  declare readonly types?: { definition: D; handlers: H };
  /** e.g. 'containerd/services/tasks/v1' */
  readonly dir: string;
  /** e.g. 'containerd.services.tasks.v1.Tasks' */
  readonly name: string;
  readonly kinds: K;

  // fields spelled out: api/ modules also run under Node's type stripping (api/generate.ts)
  constructor(dir: string, name: string, kinds: K) {
    this.dir = dir;
    this.name = name;
    this.kinds = kinds;
  }
}

/** Any service, whatever its types. */
export type AnyService = Service<unknown, unknown, Record<string, MethodKind>>;

/** `defineService<XxxDefinition, XxxHandlers>()(dir, name, kinds)`: kinds must name every method of the definition. */
export function defineService<D, H>() {
  return <const K extends Record<MethodNames<D>, MethodKind>>(dir: string, name: string, kinds: K): Service<D, H, K> => new Service(dir, name, kinds);
}
