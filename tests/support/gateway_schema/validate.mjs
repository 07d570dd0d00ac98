// Validates Gateway API objects (gateway.networking.k8s.io and gateway.networking.x-k8s.io) against
// the Gateway API's own schema, for the tests: the JSON-schema validators that
// @kubernetes-models/gateway-api (pinned in package.json) generates from the Gateway API types,
// plus what those validators leave out: unknown fields, which `kubectl apply` refuses
// (strict_fields.mjs), and the Gateway CRD's CEL rules on listeners (crd_rules.mjs).
//
// Usage: node validate.mjs [FILE]   (FILE, or stdin: a JSON object, an array of them, or a *List)
// Prints one line per error, "<Kind> <namespace>/<name>: <instancePath> <message>", and exits
// 0 when every object is valid, 1 when any is invalid, 2 on an object of a kind it does not know
// (or input that is not JSON objects), 3 when the schema package cannot be loaded.
import { readFileSync } from "node:fs";
import { celRuleErrors } from "./crd_rules.mjs";
import { unknownFieldErrors } from "./strict_fields.mjs";

const GROUPS = new Set(["gateway.networking.k8s.io", "gateway.networking.x-k8s.io"]);
const VERSION = /^v[0-9]+((alpha|beta)[0-9]+)?$/;

function readObjects(path) {
  const text = readFileSync(path ?? 0, "utf8");
  const value = JSON.parse(text);
  const items = Array.isArray(value)
    ? value
    : typeof value?.kind === "string" && value.kind.endsWith("List") && Array.isArray(value.items)
      ? value.items
      : [value];
  for (const item of items) {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new Error("every item must be a JSON object");
    }
  }
  return items;
}

// The model class for an apiVersion/kind, or null: only the top-level kinds of the two groups (a
// class whose static apiVersion and kind are the object's own, so "Listener" is not a kind).
async function modelFor(apiVersion, kind) {
  const [group, version] = String(apiVersion).split("/");
  if (!GROUPS.has(group) || !VERSION.test(version ?? "") || typeof kind !== "string") {
    return null;
  }
  let module;
  try {
    module = await import(`@kubernetes-models/gateway-api/${group}/${version}`);
  } catch (error) {
    if (error?.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return null; // a version it lacks
    throw error;
  }
  const model = Object.hasOwn(module, kind) ? module[kind] : undefined;
  return typeof model === "function" && model.apiVersion === apiVersion && model.kind === kind
    ? model
    : null;
}

function describe(item) {
  const name = item.metadata?.name ?? "(no name)";
  const namespace = item.metadata?.namespace;
  return `${item.kind} ${namespace ? `${namespace}/${name}` : name}`;
}

// ajv's errors for one object: its instancePath and message, as ajv words them.
function schemaErrors(Model, item) {
  try {
    new Model(item).validate();
    return [];
  } catch (error) {
    if (!Array.isArray(error?.errors)) throw error;
    return error.errors.map((e) => ({ instancePath: e.instancePath, message: e.message }));
  }
}

async function main() {
  let items;
  try {
    items = readObjects(process.argv[2]);
  } catch (error) {
    console.log(`input: ${error.message}`);
    return 2;
  }
  let status = 0;
  for (const item of items) {
    const Model = await modelFor(item.apiVersion, item.kind);
    if (Model === null) {
      console.log(`${describe(item)}: unknown kind ${item.apiVersion} ${item.kind}`);
      status = 2;
      continue;
    }
    const errors = [...schemaErrors(Model, item), ...unknownFieldErrors(item), ...celRuleErrors(item)];
    for (const { instancePath, message } of errors) {
      console.log(`${describe(item)}: ${instancePath || "/"} ${message}`);
    }
    if (errors.length > 0 && status === 0) status = 1;
  }
  return status;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.log(`cannot validate: ${error?.stack ?? error}`);
  process.exitCode = 3;
}
