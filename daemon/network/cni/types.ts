// The CNI protocol's data, from the CNI specification 1.0.0 (SPEC.md: "Network configuration
// lists", "Plugin configuration", "Result types", "Error"), and the edges between berthd's
// networking modules: the conflist store, the plugin runner and the task attacher.

/** One plugin's configuration inside a list: `type` names the binary; the rest is the plugin's. */
export interface PluginConf {
  type: string;
  /** the runtime-provided arguments this plugin accepts (e.g. portMappings, ips) */
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A network configuration list (a `.conflist` file, or a single `.conf` wrapped in one). */
export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: PluginConf[];
}

/** The portmap plugin's `portMappings` runtime argument. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
  /** empty: every host address */
  hostIP?: string;
}

export interface CniInterface {
  name: string;
  mac?: string;
  /** the netns path for an interface inside the container */
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR notation, e.g. 10.4.0.2/24 */
  address: string;
  gateway?: string;
  /** index into `interfaces` */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A plugin's success result (what ADD prints, and what the next plugin gets as prevResult). */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** One container's place on one network, as CNI_* variables and runtimeConfig give it to plugins. */
export interface CniAttachment {
  containerId: string;
  /** path of the netns (CNI_NETNS); empty on a DEL whose netns is already gone */
  netns: string;
  /** CNI_IFNAME, e.g. eth0 */
  ifName: string;
  /** CNI_ARGS pairs (IgnoreUnknown=1 is always added), e.g. [['IP', '10.4.0.9']] */
  args?: Array<[string, string]>;
  /** runtime arguments, given to the plugins whose `capabilities` accept them */
  capabilityArgs?: { portMappings?: PortMapping[]; ips?: string[] };
}

/** Runs a list's plugins in order (ADD, CHECK) or in reverse (DEL), chaining prevResult. */
export interface CniOps {
  /** On a failure the list is DELeted again (best effort) before the error is thrown. */
  add(list: NetworkConfigList, at: CniAttachment): Promise<CniResult>;
  check(list: NetworkConfigList, at: CniAttachment, prevResult: CniResult): Promise<void>;
  /** Never fails for what is already gone. */
  del(list: NetworkConfigList, at: CniAttachment, prevResult?: CniResult): Promise<void>;
}

/** A network berth knows: one of its own (`<root>/net.d`) or one from the system's CNI dir. */
export interface Network {
  name: string;
  list: NetworkConfigList;
  /** the file it was read from */
  path: string;
  /** berth's own network (made by `network create`, or the default), or one it only reads */
  owner: 'berth' | 'system';
  /** the subnets its IPAM hands addresses from (CIDR), where berth can tell */
  subnets: string[];
  gateway?: string;
  /** the host bridge, where the list has a bridge plugin */
  bridge?: string;
  default: boolean;
  labels: Record<string, string>;
}

/** How the task attacher finds networks by name ("bridge" is the default one). */
export interface NetworkLookup {
  get(name: string): Promise<Network>;
}

/** A container's networking as berthd set it up (what `berth inspect` and `network rm` need). */
export interface ContainerNetworking {
  namespace: string;
  container: string;
  networks: Array<{ name: string; ifName: string /** CIDR */; ips: string[]; mac?: string; gateway?: string }>;
  ports: PortMapping[];
}

/** How the Networks service learns which containers use a network (kept by the task attacher). */
export interface AttachmentLookup {
  get(namespace: string, container: string): ContainerNetworking | undefined;
  /** the containers ("namespace/id") attached to a network now */
  usersOf(network: string): string[];
}
