package main

import "encoding/json"

// schemaJSON is a minimal Pulumi package schema of the resources this provider serves (the
// subset of the official command 1.2.1 schema that it implements). It is built from one
// description of each property, so inputs, outputs and the two resource types cannot drift.
var schemaJSON = buildSchema()

type obj = map[string]any

func str() obj { return obj{"type": "string"} }

// copyWith returns a copy of base with extra added.
func copyWith(base obj, extra obj) obj {
	out := obj{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// command is a Command resource: its inputs, and as outputs the same plus stdout and stderr.
func commandResource(description string, inputs obj, requiredInputs []string) obj {
	r := obj{
		"description":     description,
		"inputProperties": inputs,
		"properties":      copyWith(inputs, obj{"stdout": str(), "stderr": str()}),
		"required":        append(append([]string{}, requiredInputs...), "stdout", "stderr"),
	}
	if len(requiredInputs) > 0 {
		r["requiredInputs"] = requiredInputs
	}
	return r
}

func buildSchema() string {
	logging := obj{
		"type": "string",
		"enum": []obj{{"value": "stdout"}, {"value": "stderr"}, {"value": "stdoutAndStderr"}, {"value": "none"}},
	}
	// The connection fields a proxy (bastion) shares with the connection itself.
	proxyProps := obj{
		"host":               str(),
		"port":               obj{"type": "number", "default": 22},
		"user":               obj{"type": "string", "default": "root"},
		"password":           obj{"type": "string", "secret": true},
		"privateKey":         obj{"type": "string", "secret": true},
		"privateKeyPassword": obj{"type": "string", "secret": true},
		"agentSocketPath":    str(),
		"hostKey":            str(),
		"dialErrorLimit":     obj{"type": "integer", "default": 10},
		"perDialTimeout":     obj{"type": "integer", "default": 15},
	}
	described := func(p obj, text string) obj { return copyWith(p, obj{"description": text}) }
	connProps := obj{
		"host":               described(proxyProps["host"].(obj), "The address of the resource to connect to."),
		"port":               described(proxyProps["port"].(obj), "The port to connect to."),
		"user":               described(proxyProps["user"].(obj), "The user that we should use for the connection."),
		"password":           described(proxyProps["password"].(obj), "The password we should use for the connection."),
		"privateKey":         described(proxyProps["privateKey"].(obj), "The contents of an SSH key to use for the connection."),
		"privateKeyPassword": described(proxyProps["privateKeyPassword"].(obj), "The password to use in case the private key is encrypted."),
		"agentSocketPath":    described(proxyProps["agentSocketPath"].(obj), "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present."),
		"hostKey":            described(proxyProps["hostKey"].(obj), "The expected host key to verify the server's identity."),
		"dialErrorLimit":     described(proxyProps["dialErrorLimit"].(obj), "Max allowed errors on trying to dial the remote host. -1 set count to unlimited."),
		"perDialTimeout":     described(proxyProps["perDialTimeout"].(obj), "Max number of seconds for each dial attempt. 0 implies no maximum."),
		"proxy":              obj{"$ref": "#/types/command:remote:ProxyConnection", "description": "The connection settings for the bastion/proxy host."},
	}

	// The inputs both Command types have; each adds its own.
	common := func(loggingType string) obj {
		return obj{
			"create":                 str(),
			"update":                 str(),
			"delete":                 str(),
			"stdin":                  str(),
			"environment":            obj{"type": "object", "additionalProperties": str()},
			"logging":                obj{"$ref": "#/types/" + loggingType},
			"addPreviousOutputInEnv": obj{"type": "boolean"},
			"triggers":               obj{"type": "array", "items": obj{"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true},
		}
	}
	strings := obj{"type": "array", "items": str()}
	localInputs := copyWith(common("command:local:Logging"), obj{
		"dir":          str(),
		"interpreter":  strings,
		"archivePaths": strings,
		"assetPaths":   strings,
	})
	remoteInputs := copyWith(common("command:remote:Logging"), obj{
		"connection": obj{"$ref": "#/types/command:remote:Connection", "secret": true},
	})

	schema := obj{
		"name":        "command",
		"version":     "1.2.1",
		"description": "Run commands locally or over SSH (kubevirt-lab's implementation of the command provider's Command resources).",
		"config":      obj{},
		"provider":    obj{"description": "The provider type for the command package."},
		"types": obj{
			"command:remote:Connection": obj{
				"type":        "object",
				"description": "Instructions for how to connect to a remote endpoint.",
				"properties":  connProps,
				"required":    []string{"host"},
			},
			"command:remote:ProxyConnection": obj{
				"type":        "object",
				"description": "Instructions for how to connect to a remote endpoint via a bastion host.",
				"properties":  proxyProps,
				"required":    []string{"host"},
			},
			"command:local:Logging":  logging,
			"command:remote:Logging": logging,
		},
		"resources": obj{
			typeLocal:  commandResource("A local command to be executed.", localInputs, nil),
			typeRemote: commandResource("A command to run on a remote host. The connection is established via ssh.", remoteInputs, []string{"connection"}),
		},
	}
	b, err := json.Marshal(schema)
	if err != nil {
		panic(err) // a static document: cannot fail
	}
	return string(b)
}
