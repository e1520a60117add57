package main

// schemaJSON is a minimal Pulumi package schema of the resources this provider serves (the
// subset of the official command 1.2.1 schema that it implements).
const schemaJSON = `{
  "name": "command",
  "version": "1.2.1",
  "description": "Run commands locally or over SSH (kubevirt-lab's implementation of the command provider's Command resources).",
  "config": {},
  "provider": {"description": "The provider type for the command package."},
  "types": {
    "command:remote:Connection": {
      "type": "object",
      "description": "Instructions for how to connect to a remote endpoint.",
      "properties": {
        "host": {"type": "string", "description": "The address of the resource to connect to."},
        "port": {"type": "number", "default": 22, "description": "The port to connect to."},
        "user": {"type": "string", "default": "root", "description": "The user that we should use for the connection."},
        "password": {"type": "string", "secret": true, "description": "The password we should use for the connection."},
        "privateKey": {"type": "string", "secret": true, "description": "The contents of an SSH key to use for the connection."},
        "privateKeyPassword": {"type": "string", "secret": true, "description": "The password to use in case the private key is encrypted."},
        "agentSocketPath": {"type": "string", "description": "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present."},
        "hostKey": {"type": "string", "description": "The expected host key to verify the server's identity."},
        "dialErrorLimit": {"type": "integer", "default": 10, "description": "Max allowed errors on trying to dial the remote host. -1 set count to unlimited."},
        "perDialTimeout": {"type": "integer", "default": 15, "description": "Max number of seconds for each dial attempt. 0 implies no maximum."},
        "proxy": {"$ref": "#/types/command:remote:ProxyConnection", "description": "The connection settings for the bastion/proxy host."}
      },
      "required": ["host"]
    },
    "command:remote:ProxyConnection": {
      "type": "object",
      "description": "Instructions for how to connect to a remote endpoint via a bastion host.",
      "properties": {
        "host": {"type": "string"},
        "port": {"type": "number", "default": 22},
        "user": {"type": "string", "default": "root"},
        "password": {"type": "string", "secret": true},
        "privateKey": {"type": "string", "secret": true},
        "privateKeyPassword": {"type": "string", "secret": true},
        "agentSocketPath": {"type": "string"},
        "hostKey": {"type": "string"},
        "dialErrorLimit": {"type": "integer", "default": 10},
        "perDialTimeout": {"type": "integer", "default": 15}
      },
      "required": ["host"]
    },
    "command:local:Logging": {
      "type": "string",
      "enum": [{"value": "stdout"}, {"value": "stderr"}, {"value": "stdoutAndStderr"}, {"value": "none"}]
    },
    "command:remote:Logging": {
      "type": "string",
      "enum": [{"value": "stdout"}, {"value": "stderr"}, {"value": "stdoutAndStderr"}, {"value": "none"}]
    }
  },
  "resources": {
    "command:local:Command": {
      "description": "A local command to be executed.",
      "inputProperties": {
        "create": {"type": "string"},
        "update": {"type": "string"},
        "delete": {"type": "string"},
        "stdin": {"type": "string"},
        "dir": {"type": "string"},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "interpreter": {"type": "array", "items": {"type": "string"}},
        "logging": {"$ref": "#/types/command:local:Logging"},
        "addPreviousOutputInEnv": {"type": "boolean"},
        "triggers": {"type": "array", "items": {"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true},
        "archivePaths": {"type": "array", "items": {"type": "string"}},
        "assetPaths": {"type": "array", "items": {"type": "string"}}
      },
      "properties": {
        "create": {"type": "string"},
        "update": {"type": "string"},
        "delete": {"type": "string"},
        "stdin": {"type": "string"},
        "dir": {"type": "string"},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "interpreter": {"type": "array", "items": {"type": "string"}},
        "logging": {"$ref": "#/types/command:local:Logging"},
        "addPreviousOutputInEnv": {"type": "boolean"},
        "triggers": {"type": "array", "items": {"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true},
        "archivePaths": {"type": "array", "items": {"type": "string"}},
        "assetPaths": {"type": "array", "items": {"type": "string"}},
        "stdout": {"type": "string"},
        "stderr": {"type": "string"}
      },
      "required": ["stdout", "stderr"]
    },
    "command:remote:Command": {
      "description": "A command to run on a remote host. The connection is established via ssh.",
      "inputProperties": {
        "connection": {"$ref": "#/types/command:remote:Connection", "secret": true},
        "create": {"type": "string"},
        "update": {"type": "string"},
        "delete": {"type": "string"},
        "stdin": {"type": "string"},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "logging": {"$ref": "#/types/command:remote:Logging"},
        "addPreviousOutputInEnv": {"type": "boolean"},
        "triggers": {"type": "array", "items": {"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true}
      },
      "requiredInputs": ["connection"],
      "properties": {
        "connection": {"$ref": "#/types/command:remote:Connection", "secret": true},
        "create": {"type": "string"},
        "update": {"type": "string"},
        "delete": {"type": "string"},
        "stdin": {"type": "string"},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "logging": {"$ref": "#/types/command:remote:Logging"},
        "addPreviousOutputInEnv": {"type": "boolean"},
        "triggers": {"type": "array", "items": {"$ref": "pulumi.json#/Any"}, "replaceOnChanges": true},
        "stdout": {"type": "string"},
        "stderr": {"type": "string"}
      },
      "required": ["connection", "stdout", "stderr"]
    }
  }
}`
