package deploy

import (
	"context"
	"io"
	"strconv"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// Scale asks the host's procmon to run n workers (`procmon scale -c
// <procmon> N`): no reload, no failed request; procmon keeps the count
// across reloads and restarts until its config's workers changes. It needs
// the env's procmon key, and writes procmon's answer to out. The errors are
// those of AppStatusOf.
func Scale(ctx context.Context, conn Conn, env *config.Env, n int, out io.Writer) error {
	line, err := procmonCommand(env, "scale")
	if err != nil {
		return err
	}
	line += " " + script.Quote(strconv.Itoa(n)) // after -c: procmon reads flags before arguments
	return runProcmon(ctx, conn, "scale", line, out)
}
