// Package sshtest starts a real OpenSSH sshd on 127.0.0.1 for tests.
//
// Start writes a throw-away host key, a client key, an authorized_keys file
// and an sshd_config into t.TempDir(), runs `/usr/sbin/sshd -D -e -f cfg` on
// a free loopback port, waits until it answers with an SSH banner, and stops
// it (and the per-connection processes it forked) in t.Cleanup. The login
// user is the user running the test (root on CI, where PermitRootLogin is
// prohibit-password, so only keys work), or Options.User: another user
// (made with internal/testusers) logging in with the same keys.
//
// When sshd is not installed the test is skipped, unless the environment
// sets DEPLOY_REQUIRE_SSHD=1 (CI does), in which case it fails.
//
// Besides the server, the package offers what SSH client tests need around
// it: a known_hosts file holding the host key, a fake home with
// .ssh/config, .ssh/known_hosts and .ssh/id_ed25519 (FakeHome), host key
// rotation (RotateHostKey) to simulate a reinstalled or impersonated server,
// and a loopback TCP proxy whose live connections can be severed or frozen
// on demand (Cutter) to kill a connection mid-command.
package sshtest
