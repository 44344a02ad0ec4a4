package chain

import (
	"strings"
	"testing"
)

func TestEncryption_roundTripAndRefusals(t *testing.T) {
	in := Encryption{Format: LUKS2, HeaderBytes: 16 << 20}
	got, err := DecodeEncryption(in.Encode())
	if err != nil || got != in {
		t.Fatalf("round trip of %+v gave %+v, %v", in, got, err)
	}
	if strings.Contains(in.Encode(), "pass") {
		t.Fatalf("the mark %s mentions a passphrase", in.Encode())
	}
	for _, bad := range []string{"", "luks2", `{"format":"luks1"}`, `{"format":""}`} {
		if _, err := DecodeEncryption(bad); err == nil {
			t.Errorf("DecodeEncryption(%q) accepted it", bad)
		}
	}
}
