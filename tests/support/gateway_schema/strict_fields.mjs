// Unknown fields, as `kubectl apply` rejects them: its `--validate` defaults to strict, which asks
// the API server for strict field validation (KEP-2885, stable in Kubernetes 1.27: "fail the
// request with a BadRequest error if any unknown fields would be dropped from the object"). The
// generated JSON-schema validators allow extra properties, so a misspelt field (`sectioName`)
// would pass them while the API server refuses it and our source reader silently ignores it.
//
// The known fields of each type are the ones the package declares for it: its type declarations
// (<Type>.d.ts beside each model, generated from the same Gateway API types as the validators)
// list every property of the model class, inherited ones included. An object type that declares
// no property (FieldsV1, say) takes any field, as it does in the API.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const NODE_MODULES = join(dirname(fileURLToPath(import.meta.url)), "node_modules");
const LEAF = { leaf: true };
const cache = new Map();

// The .d.ts a type import names: "./Listener.js" beside it, or a package's own path.
function declarationPath(fromFile, specifier) {
  const base = specifier.startsWith(".")
    ? join(dirname(fromFile), specifier)
    : join(NODE_MODULES, specifier);
  return base.replace(/\.js$/, "") + ".d.ts";
}

function parseType(text, imports, file) {
  const type = text.trim().replace(/;$/, "").trim();
  const array = /^Array<(.+)>$/s.exec(type);
  if (array) return { items: parseType(array[1], imports, file) };
  const map = /^\{\s*\[key: string\]: (.+?);?\s*\}$/s.exec(type);
  if (map) return { values: parseType(map[1], imports, file) };
  if (Object.hasOwn(imports, type)) return { ref: declarationPath(file, imports[type]) };
  return LEAF; // string, number, boolean, a literal or a union of them
}

// The declared properties of the model class in one .d.ts, or null for a type alias (a leaf).
function fieldsOf(file) {
  if (cache.has(file)) return cache.get(file);
  const text = readFileSync(file, "utf8");
  const imports = {};
  for (const [, names, from] of text.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    for (const name of names.split(",")) imports[name.trim()] = from;
  }
  const body = /^export declare class \w+ [^{]*\{\n([\s\S]*?)^\}/m.exec(text);
  let fields = null;
  if (body) {
    fields = {};
    const props = /^ {4}"([^"]+)"\??: ([^\n]*(?:\n {8}[^\n]*)*(?:\n {4}\};)?)/gm;
    for (const [, name, type] of body[1].matchAll(props)) {
      fields[name] = parseType(type, imports, file);
    }
  }
  cache.set(file, fields);
  return fields;
}

function walk(value, type, path, errors) {
  if (value === null || typeof value !== "object") return;
  if (type.items) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, type.items, `${path}/${i}`, errors));
  } else if (type.values) {
    for (const [key, v] of Object.entries(value)) walk(v, type.values, `${path}/${key}`, errors);
  } else if (type.ref && !Array.isArray(value)) {
    const fields = fieldsOf(type.ref);
    if (fields === null || Object.keys(fields).length === 0) return;
    for (const [key, v] of Object.entries(value)) {
      if (!Object.hasOwn(fields, key)) {
        errors.push({ instancePath: path, message: `has unknown field "${key}"` });
      } else {
        walk(v, fields[key], `${path}/${key}`, errors);
      }
    }
  }
}

// The unknown fields of one object of a known kind (group/version/Kind as in its apiVersion).
export function unknownFieldErrors(item) {
  const [group, version] = String(item.apiVersion).split("/");
  const file = join(NODE_MODULES, "@kubernetes-models/gateway-api", group, version, `${item.kind}.d.ts`);
  const errors = [];
  walk(item, { ref: file }, "", errors);
  return errors;
}
