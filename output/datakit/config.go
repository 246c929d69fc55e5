package datakit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"k8s.io/utils/clock"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// Defaults applied to the zero values of Config.
const (
	DefaultQueueMaxBytes = 256 << 20 // 256 MiB
	DefaultTimeout       = 30 * time.Second
	DefaultMaxBackoff    = time.Minute
)

// Config configures a Writer. Zero values take the documented defaults; New
// leaves the caller's Config as it is.
type Config struct {
	// URL is DataKit's base URL, such as
	// http://datakit-service.datakit.svc:9529. Empty writes the line
	// protocol to Stdout instead, with no queue.
	URL string
	// Stdout receives the line protocol when URL is empty; required then.
	Stdout io.Writer
	// QueueDir holds the disk queues when URL is set; required then. See
	// the package documentation for its layout. Only one Writer may use a
	// directory at a time.
	QueueDir string
	// QueueMaxBytes bounds the bytes of both queues together, in-flight
	// batches included; 0 means DefaultQueueMaxBytes (256 MiB).
	QueueMaxBytes int64
	// Input is the input= query value under which DataKit's monitor shows
	// the writes, such as k8s_pod_restart; required when URL is set.
	Input string
	// Encoder configures the encoding of events and metrics.
	Encoder output.EncoderConfig
	// Clock times retries and send latencies; nil means the real clock.
	Clock clock.Clock
	// HTTPClient sends the requests; nil means a client of the package's
	// own, configured by TLS. Each request is bounded by Timeout whatever
	// the client's.
	HTTPClient *http.Client
	// TLS configures HTTPS to DataKit when HTTPClient is nil.
	TLS TLSConfig
	// Timeout bounds one request; 0 means DefaultTimeout (30 s, as long as
	// DataKit waits before answering 408).
	Timeout time.Duration
	// MaxBackoff caps the wait between two attempts at a batch (not a
	// Retry-After DataKit asks for); 0 means DefaultMaxBackoff (1 min).
	MaxBackoff time.Duration
	// ObserveSend, when set, is called with the category ("keyevent" or
	// "metric") and the latency of every request DataKit accepted, on the
	// sending goroutine: it must return quickly. It feeds the agent's
	// latency histogram.
	ObserveSend func(category string, latency time.Duration)
}

// Writer encodes batches and delivers them to DataKit through disk queues,
// or writes them to Stdout when no URL is configured. Write, Stats and Close
// are safe for concurrent use; Run runs once at a time.
func (c *Config) validate() error {
	var errs []error
	if c.URL == "" {
		if c.Stdout == nil {
			errs = append(errs, errors.New("stdout is required without a DataKit URL"))
		}
	} else {
		if err := CheckURL(c.URL); err != nil {
			errs = append(errs, fmt.Errorf("DataKit URL %q %w", RedactURL(c.URL), err))
		}
		if c.QueueDir == "" {
			errs = append(errs, errors.New("queue directory is required with a DataKit URL"))
		}
		if c.Input == "" {
			errs = append(errs, errors.New("input name is required with a DataKit URL"))
		}
	}
	if c.QueueMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("queue max bytes %d must not be negative", c.QueueMaxBytes))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %v must not be negative", c.Timeout))
	}
	if c.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("max backoff %v must not be negative", c.MaxBackoff))
	}
	return errors.Join(errs...)
}

// RedactURL hides the password of a URL's userinfo, for messages; it does
// so even in a URL that does not parse or has no authority ("u:pw@host").
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && (u.User != nil || u.Host != "") {
		return u.Redacted()
	}
	return maskUserinfo(s)
}

// CheckURL reports why s is not the base URL of a DataKit a Writer can
// send to: an http or https URL with a host and no path beyond "/", query
// or fragment; the Writer adds the API path and query itself. The reason
// never repeats s, which may hold a password: show s through RedactURL.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("is not a URL: %w", urlParseError(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must start with http:// or https://")
	case u.Host == "":
		return errors.New("has no host")
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("must not have a path (%q): the agent adds the API path itself", u.Path)
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not have a query or fragment")
	}
	return nil
}

// writeURL returns the write API's URL for an endpoint: base must have passed
// CheckURL.
func writeURL(base, endpoint, input string) string {
	u, _ := url.Parse(base)
	u = u.JoinPath("v1", "write", endpoint)
	// DataKit reads these by name; the order is the documented one.
	u.RawQuery = "precision=n&input=" + url.QueryEscape(input) + "&ignore_global_host_tags=true"
	return u.String()
}
