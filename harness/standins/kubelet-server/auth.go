package main

// The kubelet API's authentication and authorization, as cmd/kubelet/app/auth.go of Kubernetes
// 1.9.4 builds them (BuildAuth, BuildAuthn, BuildAuthz; copied here so as not to import the whole
// kubelet command): k8s.io/apiserver's delegating authenticator (x509 client certificates of
// --client-ca-file, bearer tokens through TokenReview, anonymous when allowed) and, with
// --authorization-mode=Webhook, its delegating authorizer (SubjectAccessReview of
// nodes/proxy|stats|log|spec|metrics), both asking the API server with the node's credentials.

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	clientset "k8s.io/client-go/kubernetes"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1beta1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1beta1"
	"k8s.io/kubernetes/pkg/kubelet/server"
)

const (
	authorizationModeAlwaysAllow = "AlwaysAllow"
	authorizationModeWebhook     = "Webhook"
)

// authConfig is the part of the kubelet's KubeletConfiguration (Authentication, Authorization)
// that the flags set.
type authConfig struct {
	anonymous            bool
	webhookAuthn         bool
	webhookCacheTTL      time.Duration
	clientCAFile         string
	authorizationMode    string
	cacheAuthorizedTTL   time.Duration
	cacheUnauthorizedTTL time.Duration
}

// buildAuth is the kubelet's BuildAuth.
func buildAuth(nodeName types.NodeName, client clientset.Interface, config authConfig) (server.AuthInterface, error) {
	var (
		tokenClient authenticationclient.TokenReviewInterface
		sarClient   authorizationclient.SubjectAccessReviewInterface
	)
	if client != nil && !reflect.ValueOf(client).IsNil() {
		tokenClient = client.AuthenticationV1beta1().TokenReviews()
		sarClient = client.AuthorizationV1beta1().SubjectAccessReviews()
	}

	authn, err := buildAuthn(tokenClient, config)
	if err != nil {
		return nil, err
	}

	attributes := server.NewNodeAuthorizerAttributesGetter(nodeName)

	authz, err := buildAuthz(sarClient, config)
	if err != nil {
		return nil, err
	}

	return server.NewKubeletAuth(authn, attributes, authz), nil
}

// buildAuthn is the kubelet's BuildAuthn.
func buildAuthn(client authenticationclient.TokenReviewInterface, config authConfig) (authenticator.Request, error) {
	authenticatorConfig := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:    config.anonymous,
		CacheTTL:     config.webhookCacheTTL,
		ClientCAFile: config.clientCAFile,
	}

	if config.webhookAuthn {
		if client == nil {
			return nil, errors.New("no client provided, cannot use webhook authentication")
		}
		authenticatorConfig.TokenAccessReviewClient = client
	}

	authn, _, err := authenticatorConfig.New()
	return authn, err
}

// buildAuthz is the kubelet's BuildAuthz.
func buildAuthz(client authorizationclient.SubjectAccessReviewInterface, config authConfig) (authorizer.Authorizer, error) {
	switch config.authorizationMode {
	case authorizationModeAlwaysAllow:
		return authorizerfactory.NewAlwaysAllowAuthorizer(), nil

	case authorizationModeWebhook:
		if client == nil {
			return nil, errors.New("no client provided, cannot use webhook authorization")
		}
		authorizerConfig := authorizerfactory.DelegatingAuthorizerConfig{
			SubjectAccessReviewClient: client,
			AllowCacheTTL:             config.cacheAuthorizedTTL,
			DenyCacheTTL:              config.cacheUnauthorizedTTL,
		}
		return authorizerConfig.New()

	case "":
		return nil, fmt.Errorf("No authorization mode specified")

	default:
		return nil, fmt.Errorf("Unknown authorization mode %s", config.authorizationMode)
	}
}
