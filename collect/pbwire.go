package collect

// A minimal protobuf wire reader for the lean pod decoder (lean.go), in the
// style of github.com/VictoriaMetrics/easyproto: a message is read field by
// field, fields not read are skipped by wire type without being decoded.
//
// It follows the gogo-generated Unmarshal methods of k8s.io/api and
// k8s.io/apimachinery (generated.pb.go) where they decide what a value is:
// a varint has at most 10 bytes and bits past the 64th are dropped; an int32
// is the varint's low 32 bits; a bool is any nonzero varint. It is stricter
// where they are lenient (groups, which no Kubernetes type has, are refused):
// the lean decoder then gives the object to the standard decoder.

// Wire types (https://protobuf.dev/programming-guides/encoding/).
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// pbField is one field of a message.
type pbField struct {
	num  int32
	wire int
	v    uint64 // the value of a varint field
	data []byte // the bytes of a length-delimited field; they alias the message
}

// uvarint reads a varint at the start of b as gogo's generated code does: it
// returns the value and the bytes read, 0 when b ends first or the varint is
// longer than 10 bytes.
func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i, shift := 0, uint(0); shift < 64; i, shift = i+1, shift+7 {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// nextField reads the field at the start of b into f and returns the rest of
// b; ok is false when b is not a well-formed field.
func nextField(b []byte, f *pbField) (rest []byte, ok bool) {
	tag, n := uvarint(b)
	if n == 0 {
		return nil, false
	}
	b = b[n:]
	// gogo reads the field number as int32(tag >> 3) and refuses <= 0.
	f.num, f.wire = int32(tag>>3), int(tag&7)
	if f.num <= 0 {
		return nil, false
	}
	f.v, f.data = 0, nil
	switch f.wire {
	case wireVarint:
		f.v, n = uvarint(b)
		if n == 0 {
			return nil, false
		}
		return b[n:], true
	case wireFixed64:
		if len(b) < 8 {
			return nil, false
		}
		return b[8:], true
	case wireFixed32:
		if len(b) < 4 {
			return nil, false
		}
		return b[4:], true
	case wireBytes:
		l, n := uvarint(b)
		if n == 0 || l > uint64(len(b)-n) {
			return nil, false
		}
		end := n + int(l)
		f.data = b[n:end:end]
		return b[end:], true
	}
	return nil, false // groups (3, 4) and the undefined wire types 6 and 7
}

// str returns f's bytes as a string that aliases the message: it must be
// cloned (strings.Clone, unique.Make) before the message's buffer is reused.
// ok is false when f is not length-delimited.
func (f *pbField) str() (string, bool) {
	if f.wire != wireBytes {
		return "", false
	}
	return unsafeString(f.data), true
}

// msg returns f's bytes; ok is false when f is not length-delimited.
func (f *pbField) msg() ([]byte, bool) { return f.data, f.wire == wireBytes }

// int32 returns f's value as gogo decodes an int32: the varint's low 32 bits.
func (f *pbField) int32() (int32, bool) { return int32(f.v), f.wire == wireVarint }

// int64 returns f's value as gogo decodes an int64.
func (f *pbField) int64() (int64, bool) { return int64(f.v), f.wire == wireVarint }

// bool returns f's value as gogo decodes a bool: any nonzero varint is true.
func (f *pbField) bool() (bool, bool) { return f.v != 0, f.wire == wireVarint }
