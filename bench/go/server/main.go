// server: the grpc-go Bench server, the ceiling in bench/grpc_bench.py.
//
// It listens on -host:-port (port 0 picks a free one), prints the bound port
// alone on one line once the socket is bound, and stops on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	pb "puregrpc/bench/benchpb"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bounds on a ServerStream request, so a bad request cannot run forever.
const (
	maxCount = 1000000
	maxSize  = 4 << 20
)

type benchServer struct {
	pb.UnimplementedBenchServer
}

func (benchServer) Unary(ctx context.Context, in *pb.Payload) (*pb.Payload, error) {
	return &pb.Payload{Body: in.GetBody()}, nil
}

func (benchServer) Upload(ctx context.Context, in *pb.Payload) (*pb.Ack, error) {
	return &pb.Ack{Size: int64(len(in.GetBody()))}, nil
}

func (benchServer) ServerStream(in *pb.StreamRequest, stream pb.Bench_ServerStreamServer) error {
	count, size := in.GetCount(), in.GetSize()
	if count < 0 || count > maxCount || size < 0 || size > maxSize {
		return status.Errorf(codes.InvalidArgument, "count %d or size %d out of range", count, size)
	}
	reply := &pb.Payload{Body: make([]byte, size)}
	for i := int32(0); i < count; i++ {
		if err := stream.Send(reply); err != nil {
			return err
		}
	}
	return nil
}

func (benchServer) ClientStream(stream pb.Bench_ClientStreamServer) error {
	last := &pb.Payload{}
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.Payload{Body: last.GetBody()})
		}
		if err != nil {
			return err
		}
		last = in
	}
}

func (benchServer) PingPong(stream pb.Bench_PingPongServer) error {
	for {
		in, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.Payload{Body: in.GetBody()}); err != nil {
			return err
		}
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 0, "TCP port to listen on (0: any free port)")
	flag.Parse()

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}
	s := grpc.NewServer()
	pb.RegisterBenchServer(s, benchServer{})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		s.Stop()
	}()

	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := s.Serve(lis); err != nil {
		log.Fatalf("failed to serve: %v", err)
	}
}
