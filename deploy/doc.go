// Package deploy is the orchestration of a deploy: what happens on one host
// and how a fleet of hosts is coordinated. It reads nothing itself (the
// config comes from deploy/config), renders nothing (deploy/report does),
// and talks to a host only through the embedded remote script over one SSH
// session per host (deploy/remote dials; deploy/script is the script and its protocol).
//
// # One host
//
// Deploy runs the script's `deploy` command: take the lock, fetch the ref
// into the bare mirror, check it out into a fresh release, link shared
// paths, run pre-deploy, switch `current` atomically, append to .deploys,
// restart (procmon reload --wait, or the restart file) and gate on health.
// A failed gate switches back. Revert moves `current` back N deploys
// without the network; Setup prepares the layout.
//
// # A fleet
//
// DeployFleet prepares (Prepare, one Rollout per host) every host first (each holds its lock and
// its new release, not yet switched), then switches them in batches, each
// gated on health. A failed batch reverts every host already switched, and
// a lost client makes each held host roll back by itself, so a fleet never
// stays on mixed versions.
//
// Progress reaches the caller as FleetEvents and the outcome as Results;
// the Outcome* constants are the words both use.
package deploy
