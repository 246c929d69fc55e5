package input

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// InputName is the input's name in DataKit: its blocks are
// [[inputs.k8s_pod_restart]], and it is the `input=` query value.
const InputName = "k8s_pod_restart"

// document is the shape of a configuration file: nothing but
// [[inputs.k8s_pod_restart]] blocks, each decoded later over the defaults.
type document struct {
	Inputs struct {
		Blocks []toml.Primitive `toml:"k8s_pod_restart"`
	} `toml:"inputs"`
}

// block is one decoded [[inputs.k8s_pod_restart]] block and where it is.
type block struct {
	cfg  *Config
	file string
	n    int // index among the file's blocks
}

func (b *block) String() string { return fmt.Sprintf("%s: inputs.%s[%d]", b.file, InputName, b.n) }

// Load reads the configuration at path, a file or a directory, applies the
// overrides of environ (see ApplyEnv) to every block and validates it. Of a
// directory it reads every *.conf file in name order, following symbolic
// links (as in a mounted ConfigMap) and ignoring other files, hidden files
// and subdirectories. The error reports every problem found, each naming its
// file, and its block or line; on error no config is returned.
func Load(path string, environ []string) ([]*Config, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	if !info.IsDir() {
		return LoadFile(path, environ)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	var files []string
	for _, e := range entries { // sorted by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || filepath.Ext(name) != ".conf" {
			continue
		}
		file := filepath.Join(path, name)
		fi, err := os.Stat(file) // follows symbolic links
		if err != nil {
			return nil, fmt.Errorf("load configuration: %w", err)
		}
		if fi.Mode().IsRegular() {
			files = append(files, file)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("load configuration: %s: no *.conf file", path)
	}
	return load(files, environ)
}

// LoadFile is Load for a single file.
func LoadFile(path string, environ []string) ([]*Config, error) {
	return load([]string{path}, environ)
}

func load(files []string, environ []string) ([]*Config, error) {
	var errs []error
	// On error ovs still holds the good variables: applying them keeps
	// validation from reporting values that the environment replaces.
	ovs, err := parseEnv(environ)
	if err != nil {
		errs = append(errs, err)
	}
	var blocks []*block
	for _, file := range files {
		bs, err := decodeFile(file)
		if err != nil {
			errs = append(errs, err)
		}
		blocks = append(blocks, bs...)
	}
	if len(errs) == 0 && len(blocks) == 0 {
		return nil, fmt.Errorf("%s: no [[inputs.%s]] block", strings.Join(files, ", "), InputName)
	}

	fromEnv := make(map[string]string) // key -> the variable that set it
	for _, o := range ovs {
		fromEnv[o.key] = o.env
	}
	for _, b := range blocks {
		for _, o := range ovs {
			o.apply(b.cfg)
		}
		if err := b.cfg.Validate(); err != nil {
			errs = append(errs, prefixErrors(b.String(), blameEnv(err, fromEnv)))
		}
	}
	errs = append(errs, checkDistinct(blocks, fromEnv)...)

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cfgs := make([]*Config, len(blocks))
	for i, b := range blocks {
		cfgs[i] = b.cfg
	}
	return cfgs, nil
}

// checkDistinct reports keys that must differ between blocks: cluster_name.
// (Blocks share queue_dir: each cluster queues in a subdirectory named after
// cluster_name; and listen: one HTTP server serves every cluster on it.)
func checkDistinct(blocks []*block, fromEnv map[string]string) []error {
	var errs []error
	for _, d := range []struct {
		key   string
		value func(c *Config) string // "" is not compared
	}{
		{"cluster_name", func(c *Config) string { return c.ClusterName }},
	} {
		first := make(map[string]*block)
		for _, b := range blocks {
			v := d.value(b.cfg)
			if v == "" {
				continue
			}
			prev, dup := first[v]
			if !dup {
				first[v] = b
				continue
			}
			hint := ""
			if env, ok := fromEnv[d.key]; ok {
				hint = fmt.Sprintf(" (%s sets it for every block)", env)
			}
			errs = append(errs, fmt.Errorf("%s: %s: %q is already used by %s; each block needs its own%s",
				b, d.key, v, prev, hint))
		}
	}
	return errs
}

// decodeFile decodes the blocks of one file over the defaults. It returns the
// blocks that decoded, and an error for every problem: syntax, unknown keys,
// bad types.
func decodeFile(file string) ([]*block, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("load configuration: %w", err)
	}
	src := string(data)
	var doc document
	md, err := toml.Decode(src, &doc)
	if err != nil {
		if md.Type("inputs", InputName) == "Hash" {
			return nil, fmt.Errorf("%s: inputs.%s must be an array of tables: write [[inputs.%[2]s]]", file, InputName)
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}

	var (
		blocks []*block
		errs   []error
	)
	for i, p := range doc.Inputs.Blocks {
		b := &block{cfg: DefaultConfig(), file: file, n: i}
		if err := md.PrimitiveDecode(p, b.cfg); err != nil {
			if i < len(doc.Inputs.Blocks)-1 {
				err = redecodeForLine(src, i, err)
			}
			errs = append(errs, fmt.Errorf("%s: %w", b, err))
			continue
		}
		blocks = append(blocks, b)
	}
	errs = append(errs, unknownKeys(file, &md, len(doc.Inputs.Blocks))...)
	return blocks, errors.Join(errs...)
}

// redecodeForLine returns the error of decoding block i again from the
// part of src before block i+1. BurntSushi/toml keeps one position per key
// path, that of its last occurrence, so the error of an earlier block would
// carry the line of a later block's key. If that fails, err is returned.
func redecodeForLine(src string, i int, err error) error {
	lines := strings.SplitAfter(src, "\n")
	for n := 1; n <= len(lines); n++ {
		var doc document
		if _, e := toml.Decode(strings.Join(lines[:n], ""), &doc); e != nil || len(doc.Inputs.Blocks) <= i+1 {
			continue
		}
		// Line n opens block i+1: decode what precedes it.
		doc = document{}
		md, e := toml.Decode(strings.Join(lines[:n-1], ""), &doc)
		if e != nil || len(doc.Inputs.Blocks) != i+1 {
			return err
		}
		if e := md.PrimitiveDecode(doc.Inputs.Blocks[i], DefaultConfig()); e != nil {
			return e
		}
		return err
	}
	return err
}

// unknownKeys reports the keys of md that decoded into nothing, naming the
// block they are in; under an unknown table only the table is reported.
func unknownKeys(file string, md *toml.MetaData, nBlocks int) []error {
	undecoded := make(map[string]bool)
	for _, k := range md.Undecoded() {
		undecoded[k.String()] = true
	}
	if len(undecoded) == 0 {
		return nil
	}
	known := make(map[string]bool, len(configKeys))
	for _, k := range configKeys {
		known[k.name] = true
	}

	// md.Keys lists every key in document order, the block header once per
	// block, so counting headers tells which block a key is in. An inline
	// array of tables has no headers: then the block stays unnamed.
	keys := md.Keys()
	headers := 0
	for _, k := range keys {
		if isHeader(k) {
			headers++
		}
	}
	named := headers == nBlocks

	type seen struct {
		n int // the block, or -1 outside blocks
		k toml.Key
	}
	var (
		errs     []error
		reported []seen
		n        = -1
	)
	for _, k := range keys {
		if isHeader(k) {
			n++
			continue
		}
		inBlock := len(k) > 2 && k[0] == "inputs" && k[1] == InputName
		at := seen{n: -1, k: k}
		if inBlock {
			at.n = n
		}
		if !undecoded[k.String()] || slices.ContainsFunc(reported, func(r seen) bool {
			return r.n == at.n && len(r.k) <= len(k) && slices.Equal(r.k, k[:len(r.k)])
		}) {
			continue
		}
		if inBlock && known[k[2]] {
			continue // a known key left undecoded by an error reported already
		}
		reported = append(reported, at)
		switch {
		case inBlock && named:
			errs = append(errs, fmt.Errorf("%s: unknown key inputs.%s[%d].%s", file, InputName, n, k[2:]))
		case inBlock:
			errs = append(errs, fmt.Errorf("%s: unknown key %s", file, k))
		default:
			errs = append(errs, fmt.Errorf("%s: unknown key %s (a file holds only [[inputs.%s]] blocks)", file, k, InputName))
		}
	}
	return errs
}

func isHeader(k toml.Key) bool { return len(k) == 2 && k[0] == "inputs" && k[1] == InputName }

// blameEnv notes, on each of the errors joined in err that concerns a key
// set by the environment, the variable that set it: the file does not hold
// the value the message shows.
func blameEnv(err error, fromEnv map[string]string) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(fromEnv) == 0 {
		return err
	}
	var errs []error
	for _, e := range joined.Unwrap() {
		if ke, ok := errors.AsType[*keyError](e); ok {
			key, _, _ := strings.Cut(ke.key, "[")
			key, _, _ = strings.Cut(key, ".")
			if env, set := fromEnv[key]; set {
				e = fmt.Errorf("%w (%s is set)", e, env)
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// prefixErrors puts prefix before each of the errors joined in err.
func prefixErrors(prefix string, err error) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	var errs []error
	for _, e := range joined.Unwrap() {
		errs = append(errs, fmt.Errorf("%s: %w", prefix, e))
	}
	return errors.Join(errs...)
}
