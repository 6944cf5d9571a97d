package config

import (
	"fmt"
	"os"
)

func ExampleParseINI() {
	cfg, err := ParseINI("/home/me/app/deploy.conf", []byte(`
# deploy.conf, the classic form
[production]
hosts web1 deploy@web2:2222
key keys/deploy
repo git@github.com:me/app.git
path /var/www/app
ref origin/main
env NODE_ENV=production
post-deploy touch tmp/restart.txt
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	env, err := cfg.Env("") // the file's only environment
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(env.Hosts[1].User, env.Hosts[1].Name, env.Hosts[1].Port, env.Lines["path"])
	env.WriteTo(os.Stdout)
	// Output:
	// deploy web2 2222 7
	// [production]
	// hosts web1 deploy@web2:2222
	// key /home/me/app/keys/deploy
	// forward-agent no
	// connect-timeout 10s
	// repo git@github.com:me/app.git
	// path /var/www/app
	// ref origin/main
	// shell bash
	// needs_tty no
	// env NODE_ENV=production
	// build none
	// post-deploy touch tmp/restart.txt
	// keep 5
	// parallel 10
}

func ExampleParseTOML() {
	_, err := ParseTOML("deploy.toml", []byte(`
[production]
host = "web1"
repo = "git@github.com:me/app.git"
path = "/var/www/app"
port = "2222"
`))
	fmt.Println(err)
	// Output:
	// deploy.toml:6: port: wrong type; want an integer, like port = 22
}
