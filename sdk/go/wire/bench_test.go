package wire

import (
	"fmt"
	"testing"
)

// benchSizes are the numbers of messages in the benchmarked Deliver frames.
var benchSizes = []int{1, 32}

func BenchmarkMarshal(b *testing.B) {
	for _, c := range codecs() {
		for _, n := range benchSizes {
			f := deliverFrame(n)
			b.Run(fmt.Sprintf("codec=%s/size=%d", codecName(c), n), func(b *testing.B) {
				b.ReportAllocs()
				var size int
				for b.Loop() {
					data, err := c.Marshal(f)
					if err != nil {
						b.Fatal(err)
					}
					size = len(data)
				}
				b.SetBytes(int64(size))
			})
			b.Run(fmt.Sprintf("codec=%s/size=%d/append", codecName(c), n), func(b *testing.B) {
				b.ReportAllocs()
				var buf []byte
				for b.Loop() {
					var err error
					if buf, err = c.MarshalAppend(buf[:0], f); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(buf)))
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range codecs() {
		for _, n := range benchSizes {
			data, err := c.Marshal(deliverFrame(n))
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("codec=%s/size=%d", codecName(c), n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := Decode(c, data, testMax); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// codecName is a short name of a codec for benchmark names: proto or json.
func codecName(c Codec) string {
	if c.Binary() {
		return "proto"
	}
	return "json"
}
