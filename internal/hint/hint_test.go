package hint

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestOfAndPrint(t *testing.T) {
	t.Parallel()
	base := Wrap(fmt.Errorf("open x: %w", os.ErrPermission), "chmod it")
	wrapped := fmt.Errorf("reload: %w", base)
	if got := Of(wrapped); got != "chmod it" {
		t.Errorf("Of = %q", got)
	}
	if !errors.Is(wrapped, os.ErrPermission) {
		t.Error("Wrap hides the cause from errors.Is")
	}
	if Wrap(nil, "x") != nil || Of(nil) != "" || Of(errors.New("plain")) != "" {
		t.Error("nil and plain errors must stay without a hint")
	}
	var b strings.Builder
	Print(&b, errors.Join(Errorf("h1", "a:1: one"), errors.New("a:2: two\nsecond line"), Errorf("h3", "a:3: three")))
	want := "error: a:1: one\nhint: h1\nerror: a:2: two\nerror: second line\nerror: a:3: three\nhint: h3\n"
	if b.String() != want {
		t.Errorf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
}
