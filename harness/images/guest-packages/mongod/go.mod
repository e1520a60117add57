module kubevirt-lab/mongod

go 1.24

require (
	github.com/FerretDB/wire v0.0.8
	github.com/xdg-go/scram v1.1.2
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/xdg-go/pbkdf2 v1.0.0 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	golang.org/x/text v0.3.8 // indirect
)
