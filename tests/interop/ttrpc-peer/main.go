// Command ttrpc-peer is the independent side of hull's ttrpc interop test and benchmark: containerd's own Go
// ttrpc, serving or calling hull.interop.Echo (see ../echo.proto) over a unix socket.
//
//	ttrpc-peer server SOCKET
//	ttrpc-peer client SOCKET unary|concurrent|timeout|error|big|all
//	ttrpc-peer bench-client SOCKET CALLS CONCURRENCY
//
// Built offline from Debian's packages: GO111MODULE=off GOPATH=<tmp>:/usr/share/gocode go build.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const service = "hull.interop.Echo"

// EchoRequest and EchoResponse mirror echo.proto; gogo/protobuf encodes them from the struct tags.
type EchoRequest struct {
	Data        []byte `protobuf:"bytes,1,opt,name=data,proto3"`
	SleepMs     uint32 `protobuf:"varint,2,opt,name=sleep_ms,proto3"`
	FailCode    int32  `protobuf:"varint,3,opt,name=fail_code,proto3"`
	FailMessage string `protobuf:"bytes,4,opt,name=fail_message,proto3"`
}

func (m *EchoRequest) Reset()         { *m = EchoRequest{} }
func (m *EchoRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*EchoRequest) ProtoMessage()    {}

type EchoResponse struct {
	Data     []byte `protobuf:"bytes,1,opt,name=data,proto3"`
	Metadata string `protobuf:"bytes,2,opt,name=metadata,proto3"`
}

func (m *EchoResponse) Reset()         { *m = EchoResponse{} }
func (m *EchoResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*EchoResponse) ProtoMessage()    {}

func echo(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var req EchoRequest
	if err := unmarshal(&req); err != nil {
		return nil, err
	}
	if req.FailCode != 0 {
		return nil, status.Error(codes.Code(req.FailCode), req.FailMessage)
	}
	if req.SleepMs > 0 {
		select {
		case <-time.After(time.Duration(req.SleepMs) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	md, _ := ttrpc.GetMetadataValue(ctx, "x-hull")
	return &EchoResponse{Data: req.Data, Metadata: md}, nil
}

func serve(path string) error {
	s, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	s.Register(service, map[string]ttrpc.Method{"Echo": echo})
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	fmt.Println("READY")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	errs := make(chan error, 1)
	go func() { errs <- s.Serve(context.Background(), l) }()
	select {
	case <-sigs:
		return s.Close()
	case err := <-errs:
		return err
	}
}

type client struct{ c *ttrpc.Client }

func (c client) call(ctx context.Context, req *EchoRequest) (*EchoResponse, error) {
	var resp EchoResponse
	err := c.c.Call(ctx, service, "Echo", req, &resp)
	return &resp, err
}

func unary(c client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctx = ttrpc.WithMetadata(ctx, ttrpc.MD{"x-hull": []string{"from-go"}})
	resp, err := c.call(ctx, &EchoRequest{Data: []byte("hello")})
	if err != nil {
		return err
	}
	if string(resp.Data) != "hello" {
		return fmt.Errorf("echo returned %q", resp.Data)
	}
	if resp.Metadata != "from-go" {
		return fmt.Errorf("metadata came back as %q", resp.Metadata)
	}
	return nil
}

func concurrent(c client) error {
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			want := fmt.Sprintf("call-%d", i)
			// Different delays so that the replies come back out of order.
			resp, err := c.call(ctx, &EchoRequest{Data: []byte(want), SleepMs: uint32((i * 37) % 50)})
			if err == nil && string(resp.Data) != want {
				err = fmt.Errorf("call %d got %q", i, resp.Data)
			}
			if err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	if err, ok := <-errs; ok {
		return fmt.Errorf("%d of 100 calls failed; first: %v", len(errs)+1, err)
	}
	return nil
}

func timeout(c client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.call(ctx, &EchoRequest{SleepMs: 3000})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
		return fmt.Errorf("expected a deadline error, got %v", err)
	}
	if took < 190*time.Millisecond || took > 2*time.Second {
		return fmt.Errorf("timed out after %v", took)
	}
	// The connection survives the abandoned call.
	return unary(c)
}

func statusError(c client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.call(ctx, &EchoRequest{FailCode: int32(codes.NotFound), FailMessage: "no such thing"})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.NotFound || st.Message() != "no such thing" {
		return fmt.Errorf("expected NotFound \"no such thing\", got %v", err)
	}
	return nil
}

func big(c client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*31 + i>>16)
	}
	resp, err := c.call(ctx, &EchoRequest{Data: data})
	if err != nil {
		return err
	}
	if !bytes.Equal(resp.Data, data) {
		return errors.New("3 MiB echo came back different")
	}
	return nil
}

func runClient(path, scenario string) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	c := client{ttrpc.NewClient(conn)}
	defer c.c.Close()
	scenarios := []struct {
		name string
		run  func(client) error
	}{{"unary", unary}, {"concurrent", concurrent}, {"timeout", timeout}, {"error", statusError}, {"big", big}}
	found := false
	for _, s := range scenarios {
		if scenario != "all" && scenario != s.name {
			continue
		}
		found = true
		if err := s.run(c); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Println("ok", s.name)
	}
	if !found {
		return fmt.Errorf("unknown scenario %s", scenario)
	}
	return nil
}

// bench prints "median_us=… p99_us=… rps=…": latency of sequential calls, then throughput with concurrency calls
// in flight.
func bench(path string, calls, concurrency int) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	c := client{ttrpc.NewClient(conn)}
	defer c.c.Close()
	req := &EchoRequest{Data: []byte("ping")}
	ctx := context.Background()
	for i := 0; i < calls/10+1; i++ { // warm up
		if _, err := c.call(ctx, req); err != nil {
			return err
		}
	}
	lat := make([]float64, calls)
	for i := range lat {
		start := time.Now()
		if _, err := c.call(ctx, req); err != nil {
			return err
		}
		lat[i] = float64(time.Since(start).Nanoseconds()) / 1000
	}
	sort.Float64s(lat)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if _, err := c.call(ctx, req); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}(calls / concurrency)
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	rps := float64(calls/concurrency*concurrency) / time.Since(start).Seconds()
	fmt.Printf("median_us=%.1f p99_us=%.1f rps=%.0f\n", lat[len(lat)/2], lat[len(lat)*99/100], rps)
	return nil
}

func main() {
	var err error
	args := os.Args
	switch {
	case len(args) == 3 && args[1] == "server":
		err = serve(args[2])
	case len(args) == 4 && args[1] == "client":
		err = runClient(args[2], args[3])
	case len(args) == 5 && args[1] == "bench-client":
		var calls, concurrency int
		fmt.Sscan(args[3], &calls)
		fmt.Sscan(args[4], &concurrency)
		if calls < 100 || concurrency < 1 {
			err = errors.New("bench-client: CALLS >= 100, CONCURRENCY >= 1")
		} else {
			err = bench(args[2], calls, concurrency)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: ttrpc-peer server SOCKET | client SOCKET SCENARIO | bench-client SOCKET CALLS CONCURRENCY")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ttrpc-peer:", err)
		os.Exit(1)
	}
}
