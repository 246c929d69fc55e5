// Command informer is the benchmarks' stand-in for what kubewatch-style tools
// run: a plain client-go shared informer on all pods with client-go's
// defaults (protobuf, which v0.37's generated clients use for built-in types;
// gzip accepted; no transform; a namespace index). It prints "synced <n> pods
// in <duration>" once its cache is synced and "updates <n>" when it stops.
//
//	go run ./test/bench/informer --kubeconfig admin.kubeconfig
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func main() { os.Exit(run()) }

func run() int {
	start := time.Now()
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig `path`")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods().Informer()
	var updates atomic.Int64
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, _ any) { updates.Add(1) },
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), pods.HasSynced) {
		return 1
	}
	fmt.Printf("synced %d pods in %v\n", len(pods.GetStore().ListKeys()), time.Since(start).Round(time.Millisecond))
	<-ctx.Done()
	factory.Shutdown()
	fmt.Printf("updates %d\n", updates.Load())
	return 0
}
