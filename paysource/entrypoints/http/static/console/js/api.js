// The console's only way to the server: the public GraphQL API, POST for queries and
// graphql-transport-ws for subscriptions. The credential lives in this module's
// memory, nowhere else (no localStorage, sessionStorage or cookie): a reload forgets it.

let credential = null;
let socket = null;

export function signIn(secret) {
  credential = secret;
}

export function signOut() {
  credential = null;
  if (socket) socket.close();
  socket = null;
}

export function signedIn() {
  return credential !== null;
}

export class GraphQLError extends Error {
  constructor(message, errors, status) {
    super(message);
    this.errors = errors || [];
    this.status = status;
  }
}

export async function query(document, variables = {}) {
  if (credential === null) throw new GraphQLError("not signed in", [], 401);
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${credential}` },
    body: JSON.stringify({ query: document, variables }),
    credentials: "omit",
    cache: "no-store",
  });
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : {};
  if (!response.ok) {
    throw new GraphQLError(body.detail || body.title || `HTTP ${response.status}`, [], response.status);
  }
  if (body.errors && body.errors.length) {
    throw new GraphQLError(body.errors.map((e) => e.message).join("; "), body.errors, 200);
  }
  return body.data;
}

// graphql-transport-ws, by hand: the protocol is six message types, and one
// connection carries every subscription of the page.
let nextId = 1;
const operations = new Map();
let ready = null;

function connect() {
  if (ready) return ready;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/graphql`, "graphql-transport-ws");
  const current = socket;
  ready = new Promise((resolve, reject) => {
    current.addEventListener("open", () => {
      current.send(JSON.stringify({
        type: "connection_init", payload: { Authorization: `Bearer ${credential}` },
      }));
    });
    current.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        document.body.dataset.live = "connected"; // what tests and styles can see
        resolve(current);
      }
      else if (message.type === "ping") current.send(JSON.stringify({ type: "pong" }));
      else dispatch(message);
    });
    current.addEventListener("close", (event) => {
      reject(new GraphQLError(`live updates closed (${event.code})`));
      delete document.body.dataset.live;
      if (socket === current) { socket = null; ready = null; }
      for (const handlers of operations.values()) handlers.closed(event.code);
      operations.clear();
    });
  });
  return ready;
}

function dispatch(message) {
  const handlers = operations.get(message.id);
  if (!handlers) return;
  if (message.type === "next") handlers.next(message.payload);
  else if (message.type === "error") handlers.error(message.payload);
  else if (message.type === "complete") operations.delete(message.id);
}

// Runs `document` as a subscription; `onData(data)` for each result. Returns a function
// that ends it.
export function subscribe(document, variables, onData, onClosed = () => {}) {
  const id = String(nextId++);
  let ended = false;
  operations.set(id, {
    next: (payload) => { if (payload.data) onData(payload.data); },
    error: () => onClosed("error"),
    closed: (code) => onClosed(code),
  });
  connect().then((ws) => {
    if (!ended) ws.send(JSON.stringify({ id, type: "subscribe", payload: { query: document, variables } }));
  }, () => onClosed("refused"));
  return () => {
    ended = true;
    if (operations.delete(id) && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ id, type: "complete" }));
    }
  };
}
