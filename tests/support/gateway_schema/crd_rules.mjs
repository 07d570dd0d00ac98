// The Gateway CRD's CEL rules (x-kubernetes-validations) on listeners, which the generated
// JSON-schema validators do not carry (JSON schema has no CEL): the API server rejects a Gateway
// that breaks one of them, so the tests' Gateways must keep them too.
//
// Source: the Gateway API's own types, kubernetes-sigs/gateway-api apis/v1/gateway_types.go, the
// `+kubebuilder:validation:XValidation` markers on GatewaySpec.Listeners and ListenerTLSConfig
// (the CRDs' x-kubernetes-validations are generated from them); the messages below are theirs,
// word for word, so a failure reads as `kubectl apply` would print it. Reference:
// https://gateway-api.sigs.k8s.io/reference/spec/#listener and #listenertlsconfig.

const GATEWAY_GROUP = "gateway.networking.k8s.io/";

// CEL runs after defaulting: ListenerTLSConfig.mode has `+kubebuilder:default=Terminate`.
function tlsMode(tls) {
  return tls.mode ?? "Terminate";
}

function isSet(value) {
  return value !== undefined && value !== null;
}

function nonEmpty(value) {
  if (Array.isArray(value)) return value.length > 0;
  return isSet(value) && typeof value === "object" && Object.keys(value).length > 0;
}

// One message per rule a listener list breaks (the rule is on the list, so is its path).
function listRuleMessages(listeners) {
  const messages = [];
  const has = (l, key) => isSet(l?.[key]);
  // "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"
  if (listeners.some((l) => ["HTTP", "TCP", "UDP"].includes(l?.protocol) && has(l, "tls"))) {
    messages.push("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']");
  }
  // "tls mode must be Terminate for protocol HTTPS" (an empty mode passes too)
  const badHttps = (l) =>
    l?.protocol === "HTTPS" && has(l, "tls") && !["", "Terminate"].includes(tlsMode(l.tls));
  if (listeners.some(badHttps)) {
    messages.push("tls mode must be Terminate for protocol HTTPS");
  }
  // "hostname must not be specified for protocols ['TCP', 'UDP']" (an empty one is allowed)
  if (listeners.some((l) => ["TCP", "UDP"].includes(l?.protocol) && l?.hostname)) {
    messages.push("hostname must not be specified for protocols ['TCP', 'UDP']");
  }
  const names = listeners.map((l) => l?.name);
  if (new Set(names).size !== names.length) {
    messages.push("Listener name must be unique within the Gateway");
  }
  const combos = listeners.map((l) => JSON.stringify([l?.port, l?.protocol, l?.hostname ?? null]));
  if (new Set(combos).size !== combos.length) {
    messages.push("Combination of port, protocol and hostname must be unique for each listener");
  }
  return messages;
}

export function celRuleErrors(item) {
  const listeners = item?.spec?.listeners;
  if (item?.kind !== "Gateway" || !String(item.apiVersion).startsWith(GATEWAY_GROUP)) return [];
  if (!Array.isArray(listeners)) return []; // the schema validators report a missing list
  const errors = listRuleMessages(listeners).map((message) => ({
    instancePath: "/spec/listeners",
    message,
  }));
  listeners.forEach((listener, index) => {
    const tls = listener?.tls;
    if (!isSet(tls) || typeof tls !== "object") return;
    // "certificateRefs or options must be specified when mode is Terminate"
    if (tlsMode(tls) === "Terminate" && !nonEmpty(tls.certificateRefs) && !nonEmpty(tls.options)) {
      errors.push({
        instancePath: `/spec/listeners/${index}/tls`,
        message: "certificateRefs or options must be specified when mode is Terminate",
      });
    }
  });
  return errors;
}
