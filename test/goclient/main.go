// Command goclient drives a containerd-compatible daemon with containerd's own Go client library
// (Debian's containerd 1.6 source), the way a program that embeds containerd does. It is built
// and run by test/go-client.test.ts against a berthd of the test's own.
//
// Phase one pulls an image with unpack, runs a task with stdio to its end (output, exit code from
// Wait and Delete, the /tasks/exit event), then leaves two tasks running: "stays" (reads lines on
// stdin and echoes them) and "quits" (exits with 5 after a few seconds). It prints "phase=1" and
// waits for a line on its own stdin: meanwhile the test SIGKILLs berthd and starts it again.
// Phase two reconnects, finds both tasks, checks that the one that exited during the outage has
// its real exit status and that its exit event reaches a new subscriber, talks to "stays" over
// the stdio it set up before the restart, kills it and gets its exit.
//
// Every fact is printed as one key=value line (strings quoted); the test asserts on them. A step
// that fails prints error=... and exits 1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/typeurl"
)

func fact(key string, value interface{}) {
	if s, ok := value.(string); ok {
		value = fmt.Sprintf("%q", s)
	}
	fmt.Printf("%s=%v\n", key, value)
}

func must(err error, step string) {
	if err != nil {
		fact("error", fmt.Sprintf("%s: %v", step, err))
		os.Exit(1)
	}
}

func within(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// exits collects the /tasks/exit events of init processes that one subscription delivers.
type exits struct {
	mu     sync.Mutex
	status map[string][]uint32
	broken chan error
}

func subscribe(ctx context.Context, client *containerd.Client) *exits {
	e := &exits{status: map[string][]uint32{}, broken: make(chan error, 1)}
	envelopes, errs := client.Subscribe(ctx, `topic=="/tasks/exit"`)
	go func() {
		for {
			select {
			case env := <-envelopes:
				payload, err := typeurl.UnmarshalAny(env.Event)
				if exit, ok := payload.(*apievents.TaskExit); err == nil && ok && exit.ID == exit.ContainerID {
					e.mu.Lock()
					e.status[exit.ContainerID] = append(e.status[exit.ContainerID], exit.ExitStatus)
					e.mu.Unlock()
				}
			case err := <-errs:
				e.broken <- err
				return
			}
		}
	}()
	return e
}

// of returns the exit statuses received for a container, after waiting up to d for the first.
func (e *exits) of(id string, d time.Duration) []uint32 {
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		e.mu.Lock()
		got := append([]uint32(nil), e.status[id]...)
		e.mu.Unlock()
		if len(got) > 0 || time.Now().After(end) {
			return got
		}
	}
}

// lockedBuffer is a task's stdout, written by cio's copy goroutine and read here.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) waitFor(text string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(b.String(), text) {
			return true
		}
	}
	return strings.Contains(b.String(), text)
}

// waitIO waits for a task's output to be copied to the end, for at most d.
func waitIO(io cio.IO, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		io.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func main() {
	address := flag.String("address", "", "the daemon's socket")
	namespace := flag.String("namespace", "goclient", "namespace to work in")
	ref := flag.String("image", "", "image reference to pull (a registry on 127.0.0.1 is spoken to over plain HTTP)")
	fifoDir := flag.String("fifo-dir", "", "where the tasks' stdio FIFOs are made")
	flag.Parse()
	time.AfterFunc(3*time.Minute, func() {
		fact("error", "gave up after 3 minutes")
		os.Exit(2)
	})

	client, err := containerd.New(*address, containerd.WithDefaultNamespace(*namespace), containerd.WithTimeout(10*time.Second))
	must(err, "connect")
	defer client.Close()
	ctx, cancel := within(2 * time.Minute)
	defer cancel()
	// the client's default namespace covers its calls; building a spec needs it in the context
	ctx = namespaces.WithNamespace(ctx, *namespace)

	version, err := client.Version(ctx)
	must(err, "version")
	fact("version", version.Version)
	serving, err := client.IsServing(ctx)
	must(err, "health check")
	fact("serving", serving)
	server, err := client.Server(ctx)
	must(err, "introspection server")
	fact("server.uuid", server.UUID)

	events := subscribe(ctx, client)

	image, err := client.Pull(ctx, *ref, containerd.WithPullUnpack)
	must(err, "pull")
	fact("image.name", image.Name())
	fact("image.digest", image.Target().Digest.String())
	unpacked, err := image.IsUnpacked(ctx, containerd.DefaultSnapshotter)
	must(err, "is unpacked")
	fact("image.unpacked", unpacked)

	newContainer := func(id string, args ...string) containerd.Container {
		c, err := client.NewContainer(ctx, id,
			containerd.WithNewSnapshot(id+"-snapshot", image),
			containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs(args...)))
		must(err, "new container "+id)
		return c
	}

	// hello: stdin in, stdout and stderr out, an exit code of its own
	hello := newContainer("hello", "sh", "-c", `read line; echo "out: $line"; echo "err: $IMAGE_VAR" >&2; exit 7`)
	var helloOut, helloErr bytes.Buffer
	helloTask, err := hello.NewTask(ctx, cio.NewCreator(cio.WithStreams(strings.NewReader("piped in\n"), &helloOut, &helloErr), cio.WithFIFODir(*fifoDir)))
	must(err, "new task hello")
	helloExit, err := helloTask.Wait(ctx)
	must(err, "wait hello")
	must(helloTask.Start(ctx), "start hello")
	code, _, err := (<-helloExit).Result()
	must(err, "exit of hello")
	fact("hello.wait", code)
	fact("hello.io-done", waitIO(helloTask.IO(), 10*time.Second))
	fact("hello.stdout", helloOut.String())
	fact("hello.stderr", helloErr.String())
	deleted, err := helloTask.Delete(ctx)
	must(err, "delete task hello")
	fact("hello.delete", deleted.ExitCode())
	fact("hello.events", fmt.Sprint(events.of("hello", 10*time.Second)))
	must(hello.Delete(ctx, containerd.WithSnapshotCleanup), "delete container hello")

	// stays: keeps running through the restart, its stdio still connected to this program
	stays := newContainer("stays", "sh", "-c", `echo started; while read line; do echo "got $line"; done`)
	staysIn, staysInput := io.Pipe()
	staysOut := &lockedBuffer{}
	staysTask, err := stays.NewTask(ctx, cio.NewCreator(cio.WithStreams(staysIn, staysOut, io.Discard), cio.WithFIFODir(*fifoDir)))
	must(err, "new task stays")
	must(staysTask.Start(ctx), "start stays")
	fact("stays.started", staysOut.waitFor("started\n", 10*time.Second))
	fact("stays.pid", staysTask.Pid())

	// quits: exits while berthd is down
	quits := newContainer("quits", "sh", "-c", "sleep 3; exit 5")
	quitsTask, err := quits.NewTask(ctx, cio.NullIO)
	must(err, "new task quits")
	must(quitsTask.Start(ctx), "start quits")
	fact("quits.pid", quitsTask.Pid())

	fact("phase", 1)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		must(err, "waiting for the restart")
	}

	select {
	case err := <-events.broken:
		fact("events.broken", err != nil)
	case <-time.After(10 * time.Second):
		fact("events.broken", false)
	}
	// the same client, no new connection made by hand: gRPC dials again by itself
	serving, err = client.IsServing(ctx)
	must(err, "health check after the restart")
	fact("restarted.serving", serving)
	server, err = client.Server(ctx)
	must(err, "introspection server after the restart")
	fact("restarted.server.uuid", server.UUID)
	events = subscribe(ctx, client)

	found, err := client.LoadContainer(ctx, "quits")
	must(err, "load container quits")
	task, err := found.Task(ctx, nil)
	must(err, "task of quits")
	status, err := task.Status(ctx)
	must(err, "status of quits")
	fact("quits.status", fmt.Sprintf("%s %d", status.Status, status.ExitStatus))
	exited, err := task.Wait(ctx)
	must(err, "wait quits")
	code, _, err = (<-exited).Result()
	must(err, "exit of quits")
	fact("quits.wait", code)
	fact("quits.events", fmt.Sprint(events.of("quits", 10*time.Second)))
	deleted, err = task.Delete(ctx)
	must(err, "delete task quits")
	fact("quits.delete", deleted.ExitCode())
	must(found.Delete(ctx, containerd.WithSnapshotCleanup), "delete container quits")

	found, err = client.LoadContainer(ctx, "stays")
	must(err, "load container stays")
	task, err = found.Task(ctx, nil)
	must(err, "task of stays")
	status, err = task.Status(ctx)
	must(err, "status of stays")
	fact("stays.status", string(status.Status))
	fact("stays.pid-after", task.Pid())
	_, err = staysInput.Write([]byte("after the restart\n"))
	must(err, "write to stays")
	fact("stays.echo", staysOut.waitFor("got after the restart\n", 10*time.Second))
	exited, err = task.Wait(ctx)
	must(err, "wait stays")
	must(task.Kill(ctx, syscall.SIGKILL), "kill stays")
	code, _, err = (<-exited).Result()
	must(err, "exit of stays")
	fact("stays.wait", code)
	fact("stays.io-done", waitIO(staysTask.IO(), 10*time.Second))
	fact("stays.events", fmt.Sprint(events.of("stays", 10*time.Second)))
	deleted, err = task.Delete(ctx)
	must(err, "delete task stays")
	fact("stays.delete", deleted.ExitCode())
	staysInput.Close()
	staysTask.IO().Close()
	must(found.Delete(ctx, containerd.WithSnapshotCleanup), "delete container stays")

	// an exit event is published once: nothing more came for any of them
	time.Sleep(time.Second)
	fact("events.after", fmt.Sprint(events.of("quits", 0), events.of("stays", 0)))
	left, err := client.Containers(ctx)
	must(err, "list containers")
	fact("containers.left", len(left))
	fact("phase", 2)
}
