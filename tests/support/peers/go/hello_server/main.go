// hello_server: the canonical HelloService server from grpc-go, used as an interop peer.
//
// It listens on -host:-port (port 0 picks a free one), prints
// "Server is listening on port :<port>" once the socket is bound, and stops
// gracefully on SIGTERM or SIGINT, exiting 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	pb "puregrpc/interop/hello"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

type helloServer struct {
	pb.UnimplementedHelloServiceServer
}

func (helloServer) SayHello(ctx context.Context, in *pb.HelloRequest) (*pb.HelloResponse, error) {
	return &pb.HelloResponse{Message: "Hello, " + in.GetName()}, nil
}

func main() {
	host := flag.String("host", "", "address to listen on (empty: every interface)")
	port := flag.Int("port", 50051, "TCP port to listen on (0: any free port)")
	flag.Parse()

	lis, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		log.Fatalf("failed to listen: %v", err)
	}

	s := grpc.NewServer()
	pb.RegisterHelloServiceServer(s, helloServer{})
	healthSrv := health.NewServer()
	healthSrv.SetServingStatus("hello.HelloService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, healthSrv)
	reflection.Register(s)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		healthSrv.Shutdown()
		s.GracefulStop()
	}()

	fmt.Printf("Server is listening on port :%d\n", lis.Addr().(*net.TCPAddr).Port)
	if err := s.Serve(lis); err != nil {
		log.Fatalf("failed to serve: %v", err)
	}
	fmt.Println("Server stopped")
}
