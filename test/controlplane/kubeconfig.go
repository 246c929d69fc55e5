package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// saTokenSeconds is the lifetime of tokens KubeconfigFor requests; long enough for any test.
const saTokenSeconds = 24 * 60 * 60

// clientQPS and clientBurst replace client-go's 5/10 defaults, which would throttle tests
// that create thousands of objects.
const (
	clientQPS   = 500
	clientBurst = 1000
)

// restConfig returns a config for url that authenticates with token and trusts caPEM, or
// skips verification when caPEM is empty.
func restConfig(url, token string, caPEM []byte) *rest.Config {
	cfg := &rest.Config{
		Host:        url,
		BearerToken: token,
		QPS:         clientQPS,
		Burst:       clientBurst,
	}
	if len(caPEM) > 0 {
		cfg.CAData = caPEM
	} else {
		cfg.Insecure = true
	}
	return cfg
}

// writeKubeconfig writes a kubeconfig for cfg (host, token, CA) to path, with user and
// context named name.
func writeKubeconfig(path, name string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["controlplane"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify:    cfg.Insecure,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "controlplane", AuthInfo: name}
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// KubeconfigFor writes a kubeconfig that authenticates as ServiceAccount serviceAccount in
// namespace, with a token from the TokenRequest API, and returns its path (inside the temp
// dir, removed by Stop). The ServiceAccount is created if missing; the namespace must exist.
// It grants nothing by itself: bind roles with RBAC to test permissions.
func (cp *ControlPlane) KubeconfigFor(ctx context.Context, namespace, serviceAccount string) (string, error) {
	sas := cp.client.CoreV1().ServiceAccounts(namespace)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount}}
	if _, err := sas.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create service account %s/%s: %w", namespace, serviceAccount, err)
	}
	seconds := int64(saTokenSeconds)
	tr, err := sas.CreateToken(ctx, serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token for %s/%s: %w", namespace, serviceAccount, err)
	}
	cfg := rest.CopyConfig(cp.restConfig)
	cfg.BearerToken = tr.Status.Token
	dir := filepath.Join(cp.dir, "kubeconfigs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create kubeconfig dir: %w", err)
	}
	path := filepath.Join(dir, namespace+"."+serviceAccount+".kubeconfig")
	if err := writeKubeconfig(path, "system:serviceaccount:"+namespace+":"+serviceAccount, cfg); err != nil {
		return "", err
	}
	return path, nil
}
