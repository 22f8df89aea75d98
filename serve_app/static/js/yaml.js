// A small YAML reader for the dashboard's DAG preview.
//
// It reads the subset that workflow specs use: block mappings and sequences,
// flow collections on one or more lines, quoted and plain scalars, comments
// and block scalars (| and >). Anchors, tags and multiple documents are not
// supported. The server's parser stays the authority: this reader only has
// to be good enough to draw the graph while the user types.

export class YamlSubsetError extends Error {
  constructor(message, line) {
    super(line ? `line ${line}: ${message}` : message);
    this.line = line;
  }
}

function stripComment(text) {
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) {
      return text.slice(0, i);
    }
  }
  return text;
}

function scanLines(source) {
  const lines = [];
  const raw = source.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < raw.length; i++) {
    const text = raw[i];
    if (/^(---|\.\.\.)\s*$/.test(text)) {
      if (lines.length) break;
      continue;
    }
    const content = stripComment(text).replace(/\s+$/, "");
    if (!content.trim()) continue;
    const indent = content.length - content.trimStart().length;
    if (content.slice(0, indent).includes("\t")) {
      throw new YamlSubsetError("tabs cannot indent YAML", i + 1);
    }
    lines.push({ indent, text: content.trimStart(), number: i + 1, raw: text });
  }
  return { lines, raw };
}

function parseScalar(text) {
  const t = text.trim();
  if (t === "" || t === "~" || t === "null" || t === "Null" || t === "NULL") return null;
  if (t[0] === '"') return JSON.parse(t.replace(/\\'/g, "'"));
  if (t[0] === "'") return t.slice(1, -1).replace(/''/g, "'");
  if (/^(true|True|TRUE)$/.test(t)) return true;
  if (/^(false|False|FALSE)$/.test(t)) return false;
  if (/^[-+]?\d+$/.test(t)) return Number.parseInt(t, 10);
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  return t;
}

// Flow collections: [a, b], {k: v}, nested, with quoted strings.
function parseFlow(text, lineNumber) {
  let pos = 0;
  const fail = (message) => {
    throw new YamlSubsetError(message, lineNumber);
  };
  const skip = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const readScalar = (stops) => {
    skip();
    const c = text[pos];
    if (c === '"' || c === "'") {
      const start = pos++;
      while (pos < text.length) {
        if (c === '"' && text[pos] === "\\") pos += 2;
        else if (text[pos] === c && c === "'" && text[pos + 1] === "'") pos += 2;
        else if (text[pos] === c) break;
        else pos++;
      }
      if (pos >= text.length) fail("unterminated quoted string");
      pos++;
      return parseScalar(text.slice(start, pos));
    }
    const start = pos;
    while (pos < text.length && !stops.includes(text[pos])) {
      if (text[pos] === ":" && stops.includes(":") && /[\s,\]}]/.test(text[pos + 1] ?? " ")) break;
      pos++;
    }
    return parseScalar(text.slice(start, pos));
  };
  const readValue = (stops) => {
    skip();
    if (text[pos] === "[") return readSequence();
    if (text[pos] === "{") return readMapping();
    return readScalar(stops);
  };
  function readSequence() {
    pos++;
    const items = [];
    for (;;) {
      skip();
      if (text[pos] === "]") {
        pos++;
        return items;
      }
      items.push(readValue([",", "]"]));
      skip();
      if (text[pos] === ",") pos++;
      else if (text[pos] !== "]") fail("expected ',' or ']' in a flow sequence");
    }
  }
  function readMapping() {
    pos++;
    const result = {};
    for (;;) {
      skip();
      if (text[pos] === "}") {
        pos++;
        return result;
      }
      const key = readScalar([":", ",", "}"]);
      skip();
      let value = null;
      if (text[pos] === ":") {
        pos++;
        value = readValue([",", "}"]);
      }
      result[String(key)] = value;
      skip();
      if (text[pos] === ",") pos++;
      else if (text[pos] !== "}") fail("expected ',' or '}' in a flow mapping");
    }
  }
  const value = readValue([]);
  skip();
  if (pos < text.length) fail(`unexpected text after a flow collection: ${text.slice(pos)}`);
  return value;
}

function flowBalance(text) {
  let depth = 0;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
  }
  return depth;
}

// Split "key: value" at the first colon followed by a space or the end,
// outside quotes. Returns null when the text is not a mapping entry.
function splitKey(text) {
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if ((c === '"' || c === "'") && i === 0) quote = c;
    else if (c === "[" || c === "{") return null;
    else if (c === ":" && (i + 1 === text.length || text[i + 1] === " ")) {
      return { key: String(parseScalar(text.slice(0, i))), rest: text.slice(i + 1).trim() };
    }
  }
  return null;
}

class Reader {
  constructor(source) {
    const { lines, raw } = scanLines(source);
    this.lines = lines;
    this.raw = raw;
    this.index = 0;
  }

  peek() {
    return this.lines[this.index];
  }

  // Parse the inline value after "key:" or "- "; nested blocks come from
  // the lines indented deeper than `parentIndent`.
  inlineValue(rest, line, parentIndent) {
    if (rest === "") {
      const next = this.peek();
      if (!next || next.indent < parentIndent) return null;
      if (next.indent === parentIndent && !next.text.startsWith("- ") && next.text !== "-") {
        return null;
      }
      return this.block(next.indent);
    }
    if (/^[|>][-+0-9]*$/.test(rest)) return this.blockScalar(line, rest[0] === "|");
    if (rest[0] === "[" || rest[0] === "{") {
      let text = rest;
      while (flowBalance(text) > 0) {
        const next = this.peek();
        if (!next) throw new YamlSubsetError("unclosed flow collection", line.number);
        text += ` ${next.text}`;
        this.index++;
      }
      return parseFlow(text, line.number);
    }
    if (rest[0] === "&" || rest[0] === "*" || rest[0] === "!") {
      throw new YamlSubsetError("anchors, aliases and tags are not previewed", line.number);
    }
    return parseScalar(rest);
  }

  blockScalar(line, literal) {
    const parts = [];
    const start = line.number; // raw lines are 1-based in numbers
    let indent = null;
    let i = start;
    for (; i < this.raw.length; i++) {
      const text = this.raw[i];
      if (!text.trim()) {
        parts.push("");
        continue;
      }
      const own = text.length - text.trimStart().length;
      if (indent === null) indent = own;
      if (own < indent || own <= line.indent) break;
      parts.push(text.slice(indent));
    }
    while (this.peek() && this.peek().number <= i) this.index++;
    const body = parts.join(literal ? "\n" : " ").replace(/\s+$/, "");
    return `${body}\n`;
  }

  block(indent) {
    const first = this.peek();
    if (first.text === "-" || first.text.startsWith("- ")) return this.sequence(indent);
    return this.mapping(indent);
  }

  sequence(indent) {
    const items = [];
    for (;;) {
      const line = this.peek();
      if (!line || line.indent < indent) return items;
      if (line.indent > indent) throw new YamlSubsetError("unexpected indentation", line.number);
      if (!(line.text === "-" || line.text.startsWith("- "))) return items;
      this.index++;
      const rest = line.text.slice(1).trim();
      const entry = splitKey(rest);
      if (entry && rest[0] !== "[" && rest[0] !== "{") {
        // "- key: value" opens a mapping whose keys align after the dash.
        const childIndent = line.indent + (line.text.length - rest.length);
        const mapping = {};
        mapping[entry.key] = this.inlineValue(entry.rest, { ...line, indent: childIndent }, childIndent);
        this.mappingInto(mapping, childIndent);
        items.push(mapping);
      } else {
        items.push(this.inlineValue(rest, line, indent + 1));
      }
    }
  }

  mapping(indent) {
    const result = {};
    this.mappingInto(result, indent);
    return result;
  }

  mappingInto(result, indent) {
    for (;;) {
      const line = this.peek();
      if (!line || line.indent < indent) return result;
      if (line.indent > indent) throw new YamlSubsetError("unexpected indentation", line.number);
      if (line.text === "-" || line.text.startsWith("- ")) return result;
      const entry = splitKey(line.text);
      if (!entry) throw new YamlSubsetError(`expected 'key: value', found '${line.text}'`, line.number);
      this.index++;
      // A block sequence may sit at the key's own indentation.
      result[entry.key] = this.inlineValue(entry.rest, line, indent);
    }
  }

  document() {
    const first = this.peek();
    if (!first) return null;
    if (first.indent !== 0) throw new YamlSubsetError("the document must start at column 1", first.number);
    if (first.text[0] === "[" || first.text[0] === "{") {
      this.index++;
      return this.inlineValue(first.text, first, 0);
    }
    const value = this.block(0);
    const extra = this.peek();
    if (extra) throw new YamlSubsetError("unexpected text after the document", extra.number);
    return value;
  }
}

export function parseYaml(source) {
  return new Reader(source).document();
}

// Return the workflow's name and tasks ({name, depends, body}) for the preview.
export function previewWorkflow(source) {
  const doc = parseYaml(source);
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw new YamlSubsetError("a workflow spec is a mapping with name and tasks");
  }
  const tasks = Array.isArray(doc.tasks) ? doc.tasks : [];
  return {
    name: typeof doc.name === "string" ? doc.name : null,
    tasks: tasks
      .filter((t) => t && typeof t === "object" && t.name != null)
      .map((t) => ({
        name: String(t.name),
        depends: Array.isArray(t.depends) ? t.depends.map(String) : t.depends ? [String(t.depends)] : [],
        body: t.body,
      })),
  };
}
