// loadgen: a neutral gRPC load generator for the Bench service (bench/proto/bench.proto).
//
// It opens -connections connections to -target, runs -concurrency workers (worker i uses
// connection i % connections) for -warmup and then -duration, and prints one JSON line about the
// measured window only:
//
//	rpcs, msgs, seconds, rps, msgs_per_s, p50_us, p99_us, p999_us, max_us, mean_us,
//	loadgen_cpu_s (its own user+system CPU over the window, from getrusage),
//	server_cpu_s (utime+stime of -server-pid over the window, from /proc; -1 without a pid),
//	errors, first_error.
//
// An operation is counted when it completes inside the window. Operations per mode:
//
//	unary          one Unary call (1 RPC, 1 message each way)
//	upload         one Upload call: a -size body up, its size back (1 RPC; the reply is checked)
//	server_stream  one ServerStream call receiving -stream-count messages of -size bytes
//	client_stream  one ClientStream call sending -stream-count messages of -size bytes
//	pingpong       one round trip (send, then receive the echo) on a PingPong stream that each
//	               worker keeps open for the whole run (counted as a message, not an RPC)
//
// Latency is per operation. Every loop is bounded by the deadline and by -max-ops.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pb "puregrpc/bench/benchpb"

	"google.golang.org/grpc"
)

type config struct {
	target      string
	mode        string
	concurrency int
	connections int
	size        int
	streamCount int
	duration    time.Duration
	warmup      time.Duration
	maxOps      int
	serverPid   int
	clkTck      int
	window      int
}

type workerResult struct {
	latencies []time.Duration
	rpcs      int64
	msgs      int64
	errors    int64
	firstErr  error
}

type output struct {
	Mode        string  `json:"mode"`
	Target      string  `json:"target"`
	Concurrency int     `json:"concurrency"`
	Connections int     `json:"connections"`
	Size        int     `json:"size"`
	StreamCount int     `json:"stream_count"`
	Seconds     float64 `json:"seconds"`
	Ops         int64   `json:"ops"`
	RPCs        int64   `json:"rpcs"`
	Msgs        int64   `json:"msgs"`
	RPS         float64 `json:"rps"`
	MsgsPerS    float64 `json:"msgs_per_s"`
	OpsPerS     float64 `json:"ops_per_s"`
	P50         float64 `json:"p50_us"`
	P99         float64 `json:"p99_us"`
	P999        float64 `json:"p999_us"`
	Max         float64 `json:"max_us"`
	Mean        float64 `json:"mean_us"`
	LoadgenCPU  float64 `json:"loadgen_cpu_s"`
	ServerCPU   float64 `json:"server_cpu_s"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error"`
}

// window is the measured interval; workers count operations that complete inside it.
type window struct {
	start, end time.Time
}

func (w window) contains(t time.Time) bool {
	return !t.Before(w.start) && t.Before(w.end)
}

// processCPU is the user+system CPU seconds of pid (all its threads), from /proc/<pid>/stat.
func processCPU(pid, clkTck int) (float64, error) {
	data, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	text := string(data)
	// The command name (field 2) may hold spaces; the fields after it are plain numbers.
	paren := strings.LastIndexByte(text, ')')
	if paren < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, text)
	}
	fields := strings.Fields(text[paren+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat: %q", pid, text)
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return float64(utime+stime) / float64(clkTck), nil
}

func ownCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

type sample struct {
	at        time.Time
	own       float64
	server    float64
	serverErr error
}

func takeSample(cfg config) sample {
	s := sample{at: time.Now(), own: ownCPU(), server: -1}
	if cfg.serverPid > 0 {
		s.server, s.serverErr = processCPU(cfg.serverPid, cfg.clkTck)
	}
	return s
}

// worker runs operations until the deadline or its share of -max-ops.
type worker struct {
	cfg     config
	client  pb.BenchClient
	ctx     context.Context
	win     window
	payload *pb.Payload
	maxOps  int
	res     workerResult
}

func (w *worker) fail(err error) {
	w.res.errors++
	if w.res.firstErr == nil {
		w.res.firstErr = err
	}
}

func (w *worker) record(began time.Time, rpcs, msgs int64) {
	done := time.Now()
	if w.win.contains(done) {
		w.res.latencies = append(w.res.latencies, done.Sub(began))
		w.res.rpcs += rpcs
		w.res.msgs += msgs
	}
}

// running says whether to start another operation.
func (w *worker) running() bool {
	return time.Now().Before(w.win.end) && len(w.res.latencies) < w.maxOps && w.ctx.Err() == nil
}

// pause after an error, so that a dead server does not turn the loop into a busy spin.
func (w *worker) pause() {
	select {
	case <-w.ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}

func (w *worker) unary() {
	for w.running() {
		began := time.Now()
		if _, err := w.client.Unary(w.ctx, w.payload); err != nil {
			w.fail(err)
			w.pause()
			continue
		}
		w.record(began, 1, 1)
	}
}

func (w *worker) upload() {
	want := int64(len(w.payload.GetBody()))
	for w.running() {
		began := time.Now()
		ack, err := w.client.Upload(w.ctx, w.payload)
		if err == nil && ack.GetSize() != want {
			err = fmt.Errorf("upload: reply says %d bytes, sent %d", ack.GetSize(), want)
		}
		if err != nil {
			w.fail(err)
			w.pause()
			continue
		}
		w.record(began, 1, 1)
	}
}

func (w *worker) serverStream() {
	req := &pb.StreamRequest{Count: int32(w.cfg.streamCount), Size: int32(w.cfg.size)}
	for w.running() {
		began := time.Now()
		n, err := w.serverStreamOnce(req)
		if err != nil {
			w.fail(err)
			w.pause()
			continue
		}
		w.record(began, 1, n)
	}
}

func (w *worker) serverStreamOnce(req *pb.StreamRequest) (int64, error) {
	stream, err := w.client.ServerStream(w.ctx, req)
	if err != nil {
		return 0, err
	}
	var n int64
	for n <= int64(req.Count) {
		_, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		n++
	}
	if n != int64(req.Count) {
		return n, fmt.Errorf("server_stream: %d messages, want %d", n, req.Count)
	}
	return n, nil
}

func (w *worker) clientStream() {
	for w.running() {
		began := time.Now()
		if err := w.clientStreamOnce(); err != nil {
			w.fail(err)
			w.pause()
			continue
		}
		w.record(began, 1, int64(w.cfg.streamCount))
	}
}

func (w *worker) clientStreamOnce() error {
	stream, err := w.client.ClientStream(w.ctx)
	if err != nil {
		return err
	}
	for i := 0; i < w.cfg.streamCount; i++ {
		if err := stream.Send(w.payload); err != nil {
			// The status is only known from CloseAndRecv.
			_, err2 := stream.CloseAndRecv()
			if err2 != nil {
				return err2
			}
			return err
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

func (w *worker) pingPong() {
	for w.running() {
		ctx, cancel := context.WithCancel(w.ctx)
		err := w.pingPongStream(ctx)
		cancel()
		if err != nil {
			w.fail(err)
			w.pause()
		}
	}
}

// pingPongStream runs round trips on one stream until the deadline, then closes it cleanly.
func (w *worker) pingPongStream(ctx context.Context) error {
	stream, err := w.client.PingPong(ctx)
	if err != nil {
		return err
	}
	for w.running() {
		began := time.Now()
		if err := stream.Send(w.payload); err != nil {
			_, err2 := stream.Recv() // the status behind a failed Send
			if err2 != nil && err2 != io.EOF {
				return err2
			}
			return err
		}
		if _, err := stream.Recv(); err != nil {
			return err
		}
		w.record(began, 0, 1)
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if _, err := stream.Recv(); err != io.EOF {
		if err == nil {
			return errors.New("pingpong: a reply after CloseSend")
		}
		return err
	}
	return nil
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i].Nanoseconds()) / 1e3
}

func parseFlags() config {
	var cfg config
	flag.StringVar(&cfg.target, "target", "127.0.0.1:50051", "server address host:port")
	flag.StringVar(&cfg.mode, "mode", "unary", "unary | upload | server_stream | client_stream | pingpong")
	flag.IntVar(&cfg.concurrency, "concurrency", 10, "workers, each with one operation in flight")
	flag.IntVar(&cfg.connections, "connections", 1, "connections (worker i uses i % connections)")
	flag.IntVar(&cfg.size, "size", 100, "payload body size in bytes")
	flag.IntVar(&cfg.streamCount, "stream-count", 100, "messages per server_stream/client_stream RPC")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured time before it")
	flag.IntVar(&cfg.maxOps, "max-ops", 5000000, "bound on measured operations (all workers)")
	flag.IntVar(&cfg.serverPid, "server-pid", 0, "pid whose CPU time to report (0: none)")
	flag.IntVar(&cfg.clkTck, "clk-tck", 100, "clock ticks per second in /proc/<pid>/stat")
	flag.IntVar(&cfg.window, "window", 0,
		"fixed HTTP/2 stream and connection windows, >= 65535 (0: grpc-go's default, BDP pings on)")
	flag.Parse()
	switch cfg.mode {
	case "unary", "upload", "server_stream", "client_stream", "pingpong":
	default:
		log.Fatalf("unknown -mode %q", cfg.mode)
	}
	if cfg.concurrency < 1 || cfg.connections < 1 || cfg.size < 0 || cfg.streamCount < 1 ||
		cfg.duration <= 0 || cfg.warmup < 0 || cfg.maxOps < 1 || cfg.clkTck < 1 {
		log.Fatalf("bad flags")
	}
	if cfg.window != 0 && cfg.window < 65535 {
		log.Fatalf("-window must be 0 or >= 65535")
	}
	if cfg.duration > time.Hour || cfg.warmup > time.Hour {
		log.Fatalf("-duration and -warmup are bounded to 1h")
	}
	return cfg
}

func main() {
	cfg := parseFlags()

	dialCtx, dialCancel := context.WithTimeout(context.Background(), 10*time.Second)
	clients := make([]pb.BenchClient, cfg.connections)
	conns := make([]*grpc.ClientConn, cfg.connections)
	options := []grpc.DialOption{grpc.WithInsecure(), grpc.WithBlock()}
	if cfg.window > 0 {
		// A fixed window turns off grpc-go's BDP estimation and so its BDP pings.
		options = append(options,
			grpc.WithInitialWindowSize(int32(cfg.window)), grpc.WithInitialConnWindowSize(int32(cfg.window)))
	}
	for i := range conns {
		conn, err := grpc.DialContext(dialCtx, cfg.target, options...)
		if err != nil {
			log.Fatalf("dial %s: %v", cfg.target, err)
		}
		conns[i] = conn
		clients[i] = pb.NewBenchClient(conn)
	}
	dialCancel()

	began := time.Now()
	win := window{start: began.Add(cfg.warmup)}
	win.end = win.start.Add(cfg.duration)
	// Operations still running a little after the window are cancelled by this deadline.
	ctx, cancel := context.WithDeadline(context.Background(), win.end.Add(5*time.Second))
	defer cancel()

	payload := &pb.Payload{Body: make([]byte, cfg.size)}
	perWorker := cfg.maxOps/cfg.concurrency + 1
	workers := make([]*worker, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			cfg: cfg, client: clients[i%len(clients)], ctx: ctx, win: win,
			payload: payload, maxOps: perWorker,
		}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch cfg.mode {
			case "unary":
				w.unary()
			case "upload":
				w.upload()
			case "server_stream":
				w.serverStream()
			case "client_stream":
				w.clientStream()
			case "pingpong":
				w.pingPong()
			}
		}()
	}

	time.Sleep(time.Until(win.start))
	first := takeSample(cfg)
	time.Sleep(time.Until(win.end))
	last := takeSample(cfg)
	wg.Wait()
	for _, conn := range conns {
		conn.Close()
	}

	var all []time.Duration
	out := output{
		Mode: cfg.mode, Target: cfg.target, Concurrency: cfg.concurrency,
		Connections: cfg.connections, Size: cfg.size, StreamCount: cfg.streamCount,
	}
	var total time.Duration
	for _, w := range workers {
		all = append(all, w.res.latencies...)
		out.RPCs += w.res.rpcs
		out.Msgs += w.res.msgs
		out.Errors += w.res.errors
		if out.FirstError == "" && w.res.firstErr != nil {
			out.FirstError = w.res.firstErr.Error()
		}
		for _, d := range w.res.latencies {
			total += d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	out.Seconds = last.at.Sub(first.at).Seconds()
	out.Ops = int64(len(all))
	out.RPS = float64(out.RPCs) / out.Seconds
	out.MsgsPerS = float64(out.Msgs) / out.Seconds
	out.OpsPerS = float64(out.Ops) / out.Seconds
	out.P50 = percentile(all, 0.50)
	out.P99 = percentile(all, 0.99)
	out.P999 = percentile(all, 0.999)
	out.Max = percentile(all, 1.0)
	if len(all) > 0 {
		out.Mean = float64(total.Nanoseconds()) / float64(len(all)) / 1e3
	}
	out.LoadgenCPU = last.own - first.own
	out.ServerCPU = -1
	if cfg.serverPid > 0 {
		if first.serverErr != nil || last.serverErr != nil {
			log.Fatalf("reading server CPU: %v %v", first.serverErr, last.serverErr)
		}
		out.ServerCPU = last.server - first.server
	}
	line, err := json.Marshal(out)
	if err != nil {
		log.Fatalf("json: %v", err)
	}
	fmt.Println(string(line))
	if out.Ops == 0 {
		os.Exit(1)
	}
}
