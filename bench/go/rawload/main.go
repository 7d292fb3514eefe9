// rawload: a raw-frame HTTP/2 load generator for Bench/Unary, to saturate a server on one core
// (bench/grpc_bench.py's "saturation" measurement).
//
// It speaks HTTP/2 itself over one TCP connection (prior knowledge, h2c): the preface and its
// SETTINGS, then it waits for the server's SETTINGS and honours them (MAX_CONCURRENT_STREAMS,
// INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, HEADER_TABLE_SIZE), acknowledges every SETTINGS, answers
// every PING, and hands flow-control window back (connection and stream WINDOW_UPDATEs) so the
// server never stalls on it. It keeps -concurrency Unary calls in flight for -warmup and then
// -duration, and prints one JSON line about the measured window, with the same fields as
// bench/go/loadgen (rpcs, rps, p50_us/p99_us/p999_us, loadgen_cpu_s, server_cpu_s, errors,
// first_error, ...) plus a few of its own: loadgen_user_s and loadgen_sys_s (its CPU split; on
// loopback most of it is the kernel's TCP path), total_rpcs (warm-up and drain included), hpack
// ("indexed" or "literal"), read_batches and write_batches (system calls), pings (answered),
// max_in_flight and server_settings.
//
// Requests: the HEADERS block is encoded once (HPACK by hand, no Huffman): the first request
// inserts :path, :authority, content-type, user-agent and te into the server's dynamic table
// (literal with incremental indexing) and every later one refers to them (indexed), as a real
// client's encoder does; when the server's HEADER_TABLE_SIZE is too small for them, every field
// is a literal without indexing instead. Each request is that block in one HEADERS frame and one
// DATA frame (END_STREAM) with the 5-byte gRPC prefix and a bench.Payload of -size bytes.
// With -grpc-timeout every request also carries a grpc-timeout header whose value differs from
// the previous request's (a countdown in microseconds, "99999871u" style, as grpc-go sends the
// remaining time of each call's deadline), encoded as a literal without indexing, so the block
// differs on every call and no cache keyed on it can hit.
//
// Responses: every one is checked: the response HEADERS decoded (hpack.Decoder, in order, as the
// server's encoder expects) with :status 200 and content-type application/grpc*, the DATA bytes
// equal to the request's (Unary echoes the body; protobuf's encoding of a single bytes field is
// canonical, so the reply message is byte for byte the request message) and the trailers with
// grpc-status 0. Anything else (RST_STREAM, a trailers-only reply, GOAWAY, a short reply) is an
// error, counted and reported (first_error).
//
// One goroutine does the I/O: read whatever the socket has, handle every complete frame in it,
// then refill the pipeline and send the new requests, the acknowledgements and the window
// updates with one write. A second goroutine only samples the CPU clocks at the window's edges.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"math"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http2/hpack"
)

const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	settingHeaderTableSize      = 0x1
	settingEnablePush           = 0x2
	settingMaxConcurrentStreams = 0x3
	settingInitialWindowSize    = 0x4
	settingMaxFrameSize         = 0x5

	preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

	// What this client advertises and hands back.
	ourMaxFrameSize     = 16384     // the default: no SETTINGS entry needed
	ourStreamWindow     = 1 << 24   // SETTINGS_INITIAL_WINDOW_SIZE
	ourConnWindow       = 1 << 30   // raised from 65535 by the first WINDOW_UPDATE
	connUpdateThreshold = 1 << 28   // hand the connection window back past this much
	streamUpdateAt      = 1 << 22   // and a stream's past this much
	hpackDefaultTable   = 4096      // both directions start here (RFC 7541)
	maxWindow           = 1<<31 - 1 // RFC 7540 6.9.1
	ringBits            = 14        // in-flight stream slots: 16384
	drainLimit          = 10 * time.Second
	readBufferSize      = 1 << 18
	writeBufferSize     = 1 << 18
	maxTimeoutMicros    = 99999999 // grpc-timeout values have at most 8 digits
	minTimeoutMicros    = 1000000
	userAgent           = "puregrpc-bench-rawload/1"
	unaryPath           = "/bench.Bench/Unary"
)

type config struct {
	target      string
	concurrency int
	size        int
	duration    time.Duration
	warmup      time.Duration
	serverPid   int
	clkTck      int
	grpcTimeout bool
	hpackMode   string
	cpuProfile  string
}

type output struct {
	Mode          string            `json:"mode"`
	Target        string            `json:"target"`
	Concurrency   int               `json:"concurrency"`
	Connections   int               `json:"connections"`
	Size          int               `json:"size"`
	GrpcTimeout   bool              `json:"grpc_timeout"`
	Seconds       float64           `json:"seconds"`
	Ops           int64             `json:"ops"`
	RPCs          int64             `json:"rpcs"`
	Msgs          int64             `json:"msgs"`
	RPS           float64           `json:"rps"`
	MsgsPerS      float64           `json:"msgs_per_s"`
	OpsPerS       float64           `json:"ops_per_s"`
	P50           float64           `json:"p50_us"`
	P99           float64           `json:"p99_us"`
	P999          float64           `json:"p999_us"`
	Max           float64           `json:"max_us"`
	Mean          float64           `json:"mean_us"`
	LoadgenCPU    float64           `json:"loadgen_cpu_s"`
	LoadgenUser   float64           `json:"loadgen_user_s"`
	LoadgenSys    float64           `json:"loadgen_sys_s"`
	ServerCPU     float64           `json:"server_cpu_s"`
	Errors        int64             `json:"errors"`
	FirstError    string            `json:"first_error"`
	TotalRPCs     int64             `json:"total_rpcs"`
	HPACK         string            `json:"hpack"`
	ReadBatches   int64             `json:"read_batches"`
	WriteBatches  int64             `json:"write_batches"`
	Pings         int64             `json:"pings"`
	MaxInFlight   int               `json:"max_in_flight"`
	ServerSetting map[string]uint32 `json:"server_settings"`
}

// ---------------------------------------------------------------- CPU clocks

// processCPU is the user+system CPU seconds of pid (all its threads), from /proc/<pid>/stat.
func processCPU(pid, clkTck int) (float64, error) {
	data, err := ioutil.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	text := string(data)
	paren := strings.LastIndexByte(text, ')')
	if paren < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, text)
	}
	fields := strings.Fields(text[paren+1:])
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

// ownCPU is this process's user and system CPU seconds.
func ownCPU() (float64, float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds()
}

type sample struct {
	at        time.Time
	user, sys float64
	server    float64
	serverErr error
}

func takeSample(cfg config) sample {
	s := sample{at: time.Now(), server: -1}
	s.user, s.sys = ownCPU()
	if cfg.serverPid > 0 {
		s.server, s.serverErr = processCPU(cfg.serverPid, cfg.clkTck)
	}
	return s
}

// ---------------------------------------------------------------- socket

// blockingConn is a TCP socket in blocking mode, read and written with plain system calls: no
// netpoller (epoll_wait, goroutine park and wake-up) between the load generator and the kernel.
// A read or write that waits longer than the timeout given to dialBlocking fails.
type blockingConn struct{ fd int }

func dialBlocking(target string, timeout time.Duration) (*blockingConn, error) {
	addr, err := net.ResolveTCPAddr("tcp", target)
	if err != nil {
		return nil, err
	}
	family := syscall.AF_INET
	var sa syscall.Sockaddr
	if ip4 := addr.IP.To4(); ip4 != nil {
		sa4 := &syscall.SockaddrInet4{Port: addr.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		family = syscall.AF_INET6
		sa6 := &syscall.SockaddrInet6{Port: addr.Port}
		copy(sa6.Addr[:], addr.IP.To16())
		sa = sa6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, err
	}
	tv := syscall.NsecToTimeval(int64(timeout))
	for _, opt := range []int{syscall.SO_SNDTIMEO, syscall.SO_RCVTIMEO} { // SNDTIMEO: connect too
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			syscall.Close(fd)
			return nil, err
		}
	}
	for {
		err = syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			break
		}
	}
	if err == nil {
		err = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &blockingConn{fd: fd}, nil
}

func (b *blockingConn) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(b.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errors.New("no data from the server within the timeout")
		case err != nil:
			return 0, err
		case n == 0:
			return 0, errors.New("the server closed the connection")
		}
		return n, nil
	}
}

func (b *blockingConn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := syscall.Write(b.fd, p[written:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return written, errors.New("the server stopped reading (write timed out)")
		}
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

func (b *blockingConn) Close() error { return syscall.Close(b.fd) }

// ---------------------------------------------------------------- HPACK (request side)

func appendInt(dst []byte, first byte, prefixBits uint, v uint64) []byte {
	max := uint64(1)<<prefixBits - 1
	if v < max {
		return append(dst, first|byte(v))
	}
	dst = append(dst, first|byte(max))
	v -= max
	for v >= 128 {
		dst = append(dst, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendInt(dst, 0, 7, uint64(len(s))) // H=0: no Huffman
	return append(dst, s...)
}

type requestField struct {
	nameIndex int // static table index of the name, 0: literal name
	name      string
	value     string
}

// requestBlocks encodes the fixed request headers: `first` inserts the fields after :method and
// :scheme into the dynamic table, `steady` refers to them; `literal` uses no dynamic table.
// `tableSize` is what the insertions take (RFC 7541 4.1).
func requestBlocks(authority string) (first, steady, literal []byte, tableSize uint32) {
	fields := []requestField{
		{4, ":path", unaryPath},
		{1, ":authority", authority},
		{31, "content-type", "application/grpc"},
		{58, "user-agent", userAgent},
		{0, "te", "trailers"},
	}
	static := []byte{0x83, 0x86} // :method POST, :scheme http
	first = append(first, static...)
	steady = append(steady, static...)
	literal = append(literal, static...)
	for i, f := range fields {
		tableSize += uint32(len(f.name) + len(f.value) + 32)
		if f.nameIndex > 0 {
			first = appendInt(first, 0x40, 6, uint64(f.nameIndex))
			literal = appendInt(literal, 0x00, 4, uint64(f.nameIndex))
		} else {
			first = append(first, 0x40)
			first = appendString(first, f.name)
			literal = append(literal, 0x00)
			literal = appendString(literal, f.name)
		}
		first = appendString(first, f.value)
		literal = appendString(literal, f.value)
		// Inserted in order, so the newest (the last field) is dynamic index 62.
		steady = appendInt(steady, 0x80, 7, uint64(62+len(fields)-1-i))
	}
	return first, steady, literal, tableSize
}

// appendTimeout appends grpc-timeout as a literal without indexing (new name).
func appendTimeout(dst []byte, micros int64) []byte {
	dst = append(dst, 0x00, 12)
	dst = append(dst, "grpc-timeout"...)
	var digits [24]byte
	value := strconv.AppendInt(digits[:0], micros, 10)
	value = append(value, 'u')
	dst = append(dst, byte(len(value)))
	return append(dst, value...)
}

// ---------------------------------------------------------------- streams

type stream struct {
	id         uint32
	sent       int64 // ns since the connection's epoch
	gotHeaders bool
	matched    int // response bytes matched against the expected reply so far
	bad        bool
	recv       int // DATA bytes received since the last stream WINDOW_UPDATE
	httpOK     bool
	typeOK     bool
	grpcStatus int // -1: none seen
	grpcMsg    string
	problem    string // the first problem found while decoding this stream's frames
}

type client struct {
	cfg  config
	conn *blockingConn
	w    *bufio.Writer
	dec  *hpack.Decoder

	epoch time.Time
	win   struct{ start, end int64 }

	ring   []stream
	mask   uint32
	nextID uint32

	// decoding state: the stream whose header block is being decoded, and whether it is trailers
	cur       *stream
	dummy     stream
	trailers  bool
	hdrBuf    []byte
	hdrStream uint32
	hdrEnd    bool
	inBlock   bool

	// request encoding
	blockFirst, blockSteady, blockLiteral []byte
	tableNeed                             uint32
	encMax                                uint32
	pendingUpdate                         bool
	inserted                              bool
	literalMode                           bool
	hpackMode                             string
	scratch                               []byte
	reqData                               []byte // the DATA payload (prefix + message)
	timeoutSeq                            int64

	// peer settings and flow control
	gotSettings    bool
	peerMaxStreams uint32
	peerInitWin    int64
	peerMaxFrame   uint32
	peerTable      uint32
	connSendWin    int64
	connUnacked    int
	settings       map[string]uint32

	inflight    int
	maxInflight int
	stopping    bool
	goaway      bool

	latencies  []int64
	rpcs       int64
	totalRPCs  int64
	errs       int64
	firstErr   string
	pings      int64
	readCalls  int64
	writeCalls int64
}

func (c *client) now() int64 { return int64(time.Since(c.epoch)) }

func (c *client) fail(msg string) {
	c.errs++
	if c.firstErr == "" {
		c.firstErr = msg
	}
}

func (c *client) slot(id uint32) *stream {
	s := &c.ring[(id>>1)&c.mask]
	if s.id != id {
		return nil
	}
	return s
}

// finish ends a stream: checks the whole exchange, then frees its slot.
func (c *client) finish(s *stream, at int64) {
	problem := s.problem
	switch {
	case problem != "":
	case !s.gotHeaders:
		problem = "no response headers"
	case !s.httpOK:
		problem = ":status is not 200"
	case !s.typeOK:
		problem = "content-type is not application/grpc"
	case s.grpcStatus != 0:
		if s.grpcStatus < 0 {
			problem = "no grpc-status in the trailers"
		} else {
			problem = fmt.Sprintf("grpc-status %d: %s", s.grpcStatus, s.grpcMsg)
		}
	case s.bad || s.matched != len(c.reqData):
		problem = fmt.Sprintf("reply message differs from the request's (%d of %d bytes matched)",
			s.matched, len(c.reqData))
	}
	if problem != "" {
		c.fail(fmt.Sprintf("stream %d: %s", s.id, problem))
	} else {
		c.totalRPCs++
		if at >= c.win.start && at < c.win.end {
			c.rpcs++
			c.latencies = append(c.latencies, at-s.sent)
		}
	}
	s.id = 0
	c.inflight--
}

func (c *client) emit(f hpack.HeaderField) {
	s := c.cur
	if c.trailers {
		switch f.Name {
		case "grpc-status":
			c.setStatus(s, f.Value)
		case "grpc-message":
			s.grpcMsg = f.Value
		}
		return
	}
	switch f.Name {
	case ":status":
		s.httpOK = f.Value == "200"
	case "content-type":
		s.typeOK = strings.HasPrefix(f.Value, "application/grpc")
	case "grpc-status": // a trailers-only reply
		c.setStatus(s, f.Value)
	case "grpc-message":
		s.grpcMsg = f.Value
	}
}

func (c *client) setStatus(s *stream, value string) {
	if value == "0" {
		s.grpcStatus = 0
		return
	}
	code, err := strconv.Atoi(value)
	if err != nil || code < 0 {
		code = 2
		if s.problem == "" {
			s.problem = fmt.Sprintf("bad grpc-status %q", value)
		}
	}
	s.grpcStatus = code
}

// ---------------------------------------------------------------- writing

func (c *client) writeFrameHeader(length int, typ, flags byte, id uint32) {
	var h [9]byte
	h[0], h[1], h[2] = byte(length>>16), byte(length>>8), byte(length)
	h[3], h[4] = typ, flags
	binary.BigEndian.PutUint32(h[5:], id&0x7fffffff)
	c.w.Write(h[:])
}

func (c *client) writeWindowUpdate(id uint32, increment int) {
	c.writeFrameHeader(4, frameWindowUpdate, 0, id)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(increment))
	c.w.Write(b[:])
}

// refill starts requests until the pipeline is full (or the connection window is short).
func (c *client) refill() error {
	if !c.gotSettings || c.stopping || c.goaway {
		return nil
	}
	limit := c.cfg.concurrency
	if uint64(c.peerMaxStreams) < uint64(limit) {
		limit = int(c.peerMaxStreams)
	}
	dataLen := int64(len(c.reqData))
	if dataLen > c.peerInitWin {
		return fmt.Errorf("the server's INITIAL_WINDOW_SIZE %d is below the request's %d bytes",
			c.peerInitWin, dataLen)
	}
	var sent int64 = -1
	for c.inflight < limit && c.connSendWin >= dataLen {
		id := c.nextID
		if id > maxWindow-2 {
			c.stopping = true
			break
		}
		s := &c.ring[(id>>1)&c.mask]
		if s.id != 0 {
			break // a very old stream still holds this slot: wait for it
		}
		if sent < 0 {
			sent = c.now()
		}
		block := c.scratch[:0]
		if c.pendingUpdate {
			block = appendInt(block, 0x20, 5, uint64(c.encMax))
			c.pendingUpdate = false
			if c.encMax < c.tableNeed {
				c.literalMode = true
				c.hpackMode = "literal"
			}
		}
		switch {
		case c.literalMode:
			block = append(block, c.blockLiteral...)
		case !c.inserted:
			block = append(block, c.blockFirst...)
			c.inserted = true
		default:
			block = append(block, c.blockSteady...)
		}
		if c.cfg.grpcTimeout {
			span := int64(maxTimeoutMicros - minTimeoutMicros)
			block = appendTimeout(block, maxTimeoutMicros-c.timeoutSeq%span)
			c.timeoutSeq++
		}
		c.scratch = block
		c.writeFrameHeader(len(block), frameHeaders, flagEndHeaders, id)
		c.w.Write(block)
		c.writeFrameHeader(len(c.reqData), frameData, flagEndStream, id)
		c.w.Write(c.reqData)
		c.connSendWin -= dataLen
		*s = stream{id: id, sent: sent, grpcStatus: -1}
		c.nextID += 2
		c.inflight++
	}
	if c.inflight > c.maxInflight {
		c.maxInflight = c.inflight
	}
	return nil
}

// ---------------------------------------------------------------- reading

func (c *client) handleSettings(flags byte, p []byte) error {
	if flags&flagAck != 0 {
		return nil
	}
	if len(p)%6 != 0 {
		return errors.New("SETTINGS length not a multiple of 6")
	}
	for ; len(p) > 0; p = p[6:] {
		id, v := binary.BigEndian.Uint16(p), binary.BigEndian.Uint32(p[2:])
		switch id {
		case settingHeaderTableSize:
			c.settings["header_table_size"] = v
			c.peerTable = v
			if v < c.encMax {
				c.encMax = v
				c.pendingUpdate = true
			}
		case settingEnablePush:
			c.settings["enable_push"] = v
		case settingMaxConcurrentStreams:
			c.settings["max_concurrent_streams"] = v
			c.peerMaxStreams = v
		case settingInitialWindowSize:
			if v > maxWindow {
				return fmt.Errorf("INITIAL_WINDOW_SIZE %d too large", v)
			}
			c.settings["initial_window_size"] = v
			c.peerInitWin = int64(v)
		case settingMaxFrameSize:
			if v < 16384 || v > 1<<24-1 {
				return fmt.Errorf("MAX_FRAME_SIZE %d out of range", v)
			}
			c.settings["max_frame_size"] = v
			c.peerMaxFrame = v
		default:
			c.settings[fmt.Sprintf("0x%x", id)] = v
		}
	}
	// Requests wait for this first SETTINGS. Our frames are at most the 16384-byte minimum of
	// MAX_FRAME_SIZE (checked at start); a smaller HEADER_TABLE_SIZE is signalled, and makes
	// the blocks literal when our entries no longer fit, by the next request (refill).
	c.gotSettings = true
	c.writeFrameHeader(0, frameSettings, flagAck, 0)
	return nil
}

// unpad strips the padding of a PADDED frame.
func unpad(flags byte, p []byte) ([]byte, error) {
	if flags&flagPadded == 0 {
		return p, nil
	}
	if len(p) < 1 || int(p[0]) >= len(p) {
		return nil, errors.New("bad padding")
	}
	return p[1 : len(p)-int(p[0])], nil
}

func (c *client) decodeBlock(at int64) error {
	s := c.slot(c.hdrStream)
	target := s
	if target == nil {
		c.dummy = stream{}
		target = &c.dummy // a stream we already ended: decode anyway, HPACK state must follow
	}
	c.cur = target
	c.trailers = target.gotHeaders
	if _, err := c.dec.Write(c.hdrBuf); err != nil {
		return fmt.Errorf("HPACK: %v", err)
	}
	if err := c.dec.Close(); err != nil {
		return fmt.Errorf("HPACK: %v", err)
	}
	if s == nil {
		return nil
	}
	if !s.gotHeaders {
		s.gotHeaders = true
		if c.hdrEnd && s.problem == "" {
			s.problem = "trailers-only reply"
			if s.grpcStatus > 0 {
				s.problem = fmt.Sprintf("trailers-only reply, grpc-status %d: %s", s.grpcStatus, s.grpcMsg)
			}
		}
	} else if !c.hdrEnd && s.problem == "" {
		s.problem = "a second HEADERS without END_STREAM"
	}
	if c.hdrEnd {
		c.finish(s, at)
	}
	return nil
}

// handleFrame handles one complete frame; an error is a connection error.
func (c *client) handleFrame(typ, flags byte, id uint32, p []byte, at int64) error {
	if c.inBlock && (typ != frameContinuation || id != c.hdrStream) {
		return errors.New("a header block interrupted")
	}
	switch typ {
	case frameData:
		c.connUnacked += len(p)
		if c.connUnacked >= connUpdateThreshold {
			c.writeWindowUpdate(0, c.connUnacked)
			c.connUnacked = 0
		}
		body, err := unpad(flags, p)
		if err != nil {
			return err
		}
		s := c.slot(id)
		if s == nil {
			return nil
		}
		if !s.gotHeaders && s.problem == "" {
			s.problem = "DATA before HEADERS"
		}
		end := s.matched + len(body)
		if end > len(c.reqData) || !bytes.Equal(body, c.reqData[s.matched:end]) {
			s.bad = true
		} else {
			s.matched = end
		}
		if flags&flagEndStream != 0 {
			if s.problem == "" {
				s.problem = "DATA with END_STREAM: no trailers"
			}
			c.finish(s, at)
			return nil
		}
		s.recv += len(p)
		if s.recv >= streamUpdateAt {
			c.writeWindowUpdate(id, s.recv)
			s.recv = 0
		}
	case frameHeaders:
		block, err := unpad(flags, p)
		if err != nil {
			return err
		}
		if flags&flagPriority != 0 {
			if len(block) < 5 {
				return errors.New("short HEADERS priority")
			}
			block = block[5:]
		}
		c.hdrBuf = append(c.hdrBuf[:0], block...)
		c.hdrStream, c.hdrEnd = id, flags&flagEndStream != 0
		if flags&flagEndHeaders == 0 {
			c.inBlock = true
			return nil
		}
		return c.decodeBlock(at)
	case frameContinuation:
		if !c.inBlock {
			return errors.New("CONTINUATION outside a header block")
		}
		c.hdrBuf = append(c.hdrBuf, p...)
		if flags&flagEndHeaders != 0 {
			c.inBlock = false
			return c.decodeBlock(at)
		}
	case frameRSTStream:
		if len(p) != 4 {
			return errors.New("RST_STREAM length")
		}
		if s := c.slot(id); s != nil {
			s.problem = fmt.Sprintf("RST_STREAM error code %d", binary.BigEndian.Uint32(p))
			c.finish(s, at)
		}
	case frameSettings:
		if id != 0 {
			return errors.New("SETTINGS on a stream")
		}
		return c.handleSettings(flags, p)
	case framePing:
		if len(p) != 8 {
			return errors.New("PING length")
		}
		if flags&flagAck == 0 {
			c.pings++
			c.writeFrameHeader(8, framePing, flagAck, 0)
			c.w.Write(p)
		}
	case frameGoAway:
		if len(p) < 8 {
			return errors.New("GOAWAY length")
		}
		last := binary.BigEndian.Uint32(p) & 0x7fffffff
		code := binary.BigEndian.Uint32(p[4:])
		c.goaway = true
		c.fail(fmt.Sprintf("GOAWAY error code %d, last stream %d: %q", code, last, p[8:]))
		for i := range c.ring {
			if s := &c.ring[i]; s.id > last {
				s.problem = "not processed (GOAWAY)"
				c.finish(s, at)
			}
		}
	case frameWindowUpdate:
		if len(p) != 4 {
			return errors.New("WINDOW_UPDATE length")
		}
		increment := int64(binary.BigEndian.Uint32(p) & 0x7fffffff)
		if id == 0 {
			c.connSendWin += increment
			if c.connSendWin > maxWindow {
				return errors.New("connection window overflow")
			}
		}
	case framePushPromise:
		return errors.New("PUSH_PROMISE, with push disabled")
	case framePriority:
	default: // unknown frame types are ignored (RFC 7540 4.1)
	}
	return nil
}

// ---------------------------------------------------------------- main loop

func (c *client) run() error {
	// Preface, SETTINGS (no push, a large stream window), and a large connection window.
	c.w.WriteString(preface)
	c.writeFrameHeader(12, frameSettings, 0, 0)
	var entries [12]byte
	binary.BigEndian.PutUint16(entries[0:], settingEnablePush)
	binary.BigEndian.PutUint32(entries[2:], 0)
	binary.BigEndian.PutUint16(entries[6:], settingInitialWindowSize)
	binary.BigEndian.PutUint32(entries[8:], ourStreamWindow)
	c.w.Write(entries[:])
	c.writeWindowUpdate(0, ourConnWindow-65535)
	if err := c.w.Flush(); err != nil {
		return err
	}

	rbuf := make([]byte, readBufferSize)
	start, end := 0, 0
	drainEnd := c.win.end + int64(drainLimit)
	for {
		n, err := c.conn.Read(rbuf[end:])
		at := c.now()
		c.readCalls++
		if err != nil {
			return fmt.Errorf("read: %v", err)
		}
		end += n
		for end-start >= 9 {
			h := rbuf[start : start+9]
			length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
			if length > ourMaxFrameSize {
				return fmt.Errorf("frame of %d bytes, above our MAX_FRAME_SIZE", length)
			}
			if end-start < 9+length {
				break
			}
			id := binary.BigEndian.Uint32(h[5:]) & 0x7fffffff
			if err := c.handleFrame(h[3], h[4], id, rbuf[start+9:start+9+length], at); err != nil {
				return err
			}
			start += 9 + length
		}
		if start == end {
			start, end = 0, 0
		} else if start > 0 {
			end = copy(rbuf, rbuf[start:end])
			start = 0
		}
		if at >= c.win.end {
			c.stopping = true
			if at > drainEnd {
				return fmt.Errorf("%d calls unanswered %v after the window", c.inflight, drainLimit)
			}
		}
		if err := c.refill(); err != nil {
			return err
		}
		if c.w.Buffered() > 0 {
			c.writeCalls++
			if err := c.w.Flush(); err != nil {
				return fmt.Errorf("write: %v", err)
			}
		}
		if (c.stopping || c.goaway) && c.inflight == 0 {
			return nil
		}
	}
}

func percentile(sorted []int64, p float64) float64 {
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
	return float64(sorted[i]) / 1e3
}

func parseFlags() config {
	var cfg config
	flag.StringVar(&cfg.target, "target", "127.0.0.1:50051", "server address host:port")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "Unary calls in flight (one connection)")
	flag.IntVar(&cfg.size, "size", 100, "request body bytes (at most 16000)")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured time")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured time before it")
	flag.IntVar(&cfg.serverPid, "server-pid", 0, "pid whose CPU time to report (0: none)")
	flag.IntVar(&cfg.clkTck, "clk-tck", 100, "clock ticks per second in /proc/<pid>/stat")
	flag.BoolVar(&cfg.grpcTimeout, "grpc-timeout", false,
		"send a grpc-timeout header, a different value on every call")
	flag.StringVar(&cfg.hpackMode, "hpack", "indexed",
		"request headers: indexed (dynamic table, when the server's allows) or literal (never)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run here")
	flag.Parse()
	if cfg.concurrency < 1 || cfg.concurrency > 1<<ringBits/2 || cfg.size < 0 || cfg.size > 16000 ||
		cfg.duration <= 0 || cfg.warmup < 0 || cfg.clkTck < 1 {
		log.Fatalf("bad flags: -concurrency 1..%d, -size 0..16000, -duration > 0", 1<<ringBits/2)
	}
	if cfg.duration > time.Hour || cfg.warmup > time.Hour {
		log.Fatalf("-duration and -warmup are bounded to 1h")
	}
	if cfg.hpackMode != "indexed" && cfg.hpackMode != "literal" {
		log.Fatalf("-hpack is indexed or literal")
	}
	return cfg
}

// requestMessage is the DATA payload: the gRPC prefix and bench.Payload{body} with a patterned
// body, so an echo that loses or reorders bytes shows.
func requestMessage(size int) []byte {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*31 + 7)
	}
	var msg []byte
	if size > 0 {
		msg = append(msg, 0x0a) // field 1, length-delimited
		msg = binary.AppendUvarint(msg, uint64(size))
		msg = append(msg, body...)
	}
	data := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(data[1:], uint32(len(msg)))
	return append(data, msg...)
}

func main() {
	cfg := parseFlags()
	conn, err := dialBlocking(cfg.target, drainLimit)
	if err != nil {
		log.Fatalf("dial %s: %v", cfg.target, err)
	}
	first, steady, literal, need := requestBlocks(cfg.target)
	c := &client{
		cfg: cfg, conn: conn,
		w:              bufio.NewWriterSize(conn, writeBufferSize),
		epoch:          time.Now(),
		ring:           make([]stream, 1<<ringBits),
		mask:           1<<ringBits - 1,
		nextID:         1,
		blockFirst:     first,
		blockSteady:    steady,
		blockLiteral:   literal,
		tableNeed:      need,
		encMax:         hpackDefaultTable,
		hpackMode:      cfg.hpackMode,
		literalMode:    cfg.hpackMode == "literal",
		reqData:        requestMessage(cfg.size),
		peerMaxStreams: math.MaxUint32,
		peerInitWin:    65535,
		peerMaxFrame:   16384,
		peerTable:      hpackDefaultTable,
		connSendWin:    65535,
		settings:       map[string]uint32{},
		latencies:      make([]int64, 0, 1<<20),
	}
	if len(first)+32 > ourMaxFrameSize || len(c.reqData) > ourMaxFrameSize {
		log.Fatalf("request frames above 16384 bytes")
	}
	c.dec = hpack.NewDecoder(hpackDefaultTable, c.emit)
	c.win.start = int64(cfg.warmup)
	c.win.end = int64(cfg.warmup + cfg.duration)

	// The CPU clocks are read at the window's edges by this goroutine.
	samples := make(chan sample, 2)
	go func() {
		time.Sleep(time.Until(c.epoch.Add(cfg.warmup)))
		samples <- takeSample(cfg)
		time.Sleep(time.Until(c.epoch.Add(cfg.warmup + cfg.duration)))
		samples <- takeSample(cfg)
	}()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			log.Fatalf("cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("cpuprofile: %v", err)
		}
	}
	runErr := c.run()
	if cfg.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if runErr != nil {
		c.fail(runErr.Error())
		for i := range c.ring {
			if s := &c.ring[i]; s.id != 0 {
				c.errs++ // never answered
				s.id = 0
			}
		}
	} else {
		c.writeFrameHeader(8, frameGoAway, 0, 0)
		c.w.Write(make([]byte, 8))
		_ = c.w.Flush()
	}
	conn.Close()
	firstSample, lastSample := <-samples, <-samples

	sort.Slice(c.latencies, func(i, j int) bool { return c.latencies[i] < c.latencies[j] })
	mode := "unary-raw"
	if cfg.grpcTimeout {
		mode = "unary-raw-timeout"
	}
	out := output{
		Mode: mode, Target: cfg.target, Concurrency: cfg.concurrency, Connections: 1,
		Size: cfg.size, GrpcTimeout: cfg.grpcTimeout,
		Seconds: lastSample.at.Sub(firstSample.at).Seconds(),
		Ops:     int64(len(c.latencies)), RPCs: c.rpcs, Msgs: c.rpcs,
		Errors: c.errs, FirstError: c.firstErr, TotalRPCs: c.totalRPCs, HPACK: c.hpackMode,
		ReadBatches: c.readCalls, WriteBatches: c.writeCalls, Pings: c.pings,
		MaxInFlight: c.maxInflight, ServerSetting: c.settings,
	}
	out.RPS = float64(out.RPCs) / out.Seconds
	out.MsgsPerS = out.RPS
	out.OpsPerS = out.RPS
	out.P50 = percentile(c.latencies, 0.50)
	out.P99 = percentile(c.latencies, 0.99)
	out.P999 = percentile(c.latencies, 0.999)
	out.Max = percentile(c.latencies, 1.0)
	var total int64
	for _, d := range c.latencies {
		total += d
	}
	if len(c.latencies) > 0 {
		out.Mean = float64(total) / float64(len(c.latencies)) / 1e3
	}
	out.LoadgenUser = lastSample.user - firstSample.user
	out.LoadgenSys = lastSample.sys - firstSample.sys
	out.LoadgenCPU = out.LoadgenUser + out.LoadgenSys
	out.ServerCPU = -1
	if cfg.serverPid > 0 {
		if firstSample.serverErr != nil || lastSample.serverErr != nil {
			log.Fatalf("reading server CPU: %v %v", firstSample.serverErr, lastSample.serverErr)
		}
		out.ServerCPU = lastSample.server - firstSample.server
	}
	line, err := json.Marshal(out)
	if err != nil {
		log.Fatalf("json: %v", err)
	}
	fmt.Println(string(line))
	if out.RPCs == 0 {
		os.Exit(1)
	}
}
