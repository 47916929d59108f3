package testcluster

import "testing"

func TestCheckedValueRoundTripAndCorruption(t *testing.T) {
	f := CheckedValue{Magic: "TEST", Size: 40}
	v := f.Encode(7, 123456789)
	partition, seq, err := f.Decode(v)
	if err != nil || partition != 7 || seq != 123456789 {
		t.Fatalf("Decode(Encode(7, 123456789)) = %d, %d, %v", partition, seq, err)
	}
	for _, i := range []int{0, 5, 12, 20, len(v) - 1} {
		bad := append([]byte(nil), v...)
		bad[i] ^= 0x40
		if _, _, err := f.Decode(bad); err == nil {
			t.Errorf("a value with byte %d flipped decoded without error", i)
		}
	}
	if _, _, err := (CheckedValue{Magic: "OTHR", Size: 40}).Decode(v); err == nil {
		t.Error("another suite's magic decoded without error")
	}
	if _, _, err := f.Decode(v[:len(v)-1]); err == nil {
		t.Error("a short value decoded without error")
	}
}
