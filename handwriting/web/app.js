// The page of `python -m handwriting.serve`: read a drawing in the browser, or a photo on the server.
//
// Drawing: the strokes are kept as points, and each time they change they are drawn again into a
// 28x28 frame the way the model's training data was framed (its card's "framing"):
//   mnist   ink's longest side 20 px, centre of mass on pixel (14, 14)
//   emnist  longest side 27.1 px (124 of NIST's 128), centred by its box
//   fill    longest side 28 px, centred by its box
// with MNIST's typical stroke width, whatever pen size and drawing size you used. The model's
// ONNX export then runs here, in onnxruntime-web's WebAssembly backend, served by our own server.
// Uploads go to the server, which reads them exactly as infer.py does.

"use strict";

const SIDE = 28; // the model's frame
const PEN = 18; // px: the pen's width on the 280 px pad
const MNIST_STROKE = 2.4; // px: MNIST's typical stroke width in its 20 px box (handwriting/preprocess/frame.py)
const INK_SIDE = { mnist: 20, emnist: (SIDE * 124) / 128, fill: SIDE }; // the ink's longest side in the frame
const TOPK = 3;

const pad = document.getElementById("pad");
const seen = document.getElementById("seen");
const strokes = []; // [[{x, y}, ...], ...] in pad pixels
let card = null;
let session = null;
let pending = false;
let reading = 0; // numbers each read: an answer that arrives after a newer read began (or Clear) is dropped
let uploading = 0; // the same for uploads: a slow answer never replaces a newer one
let checking = 0; // the same for the server's look at a drawing that may hold several characters

function percent(probability) {
  if (probability >= 0.9995 && probability < 1) return ">99.9%";
  if (probability > 0 && probability < 0.0005) return "<0.1%";
  return (100 * probability).toFixed(1) + "%";
}

function showTop(list, top) {
  // top: [[label, probability or null], ...] best first
  list.replaceChildren(
    ...top.map(([label, probability]) => {
      const item = document.createElement("li");
      item.dataset.label = label;
      item.textContent = probability === null ? label : `${label}  ${percent(probability)}`;
      return item;
    })
  );
}

// ---------------------------------------------------------------------------- drawing

function penPosition(event) {
  const box = pad.getBoundingClientRect();
  return { x: ((event.clientX - box.left) * pad.width) / box.width, y: ((event.clientY - box.top) * pad.height) / box.height };
}

function drawStrokes(context, width) {
  context.lineWidth = width;
  context.lineCap = context.lineJoin = "round";
  context.strokeStyle = context.fillStyle = "#fff";
  for (const stroke of strokes) {
    if (stroke.length === 1) {
      context.beginPath();
      context.arc(stroke[0].x, stroke[0].y, width / 2, 0, 2 * Math.PI);
      context.fill();
      continue;
    }
    context.beginPath();
    context.moveTo(stroke[0].x, stroke[0].y);
    for (const point of stroke.slice(1)) context.lineTo(point.x, point.y);
    context.stroke();
  }
}

function redrawPad() {
  const context = pad.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, pad.width, pad.height);
  drawStrokes(context, PEN);
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  strokes.push([penPosition(event)]);
  changed();
});
pad.addEventListener("pointermove", (event) => {
  if (!pad.hasPointerCapture(event.pointerId) || strokes.length === 0) return;
  strokes[strokes.length - 1].push(penPosition(event));
  changed();
});
pad.addEventListener("pointerup", () => {
  if (!session) readOnServer(); // no in-browser model: the server reads the finished stroke
  else if (card.reads_several && strokes.length && mayBeSeveral()) checkOnServer();
});
document.getElementById("clear").addEventListener("click", () => {
  strokes.length = 0;
  reading += 1;
  redrawPad();
  checking += 1;
  seen.getContext("2d").clearRect(0, 0, SIDE, SIDE);
  seen.closest("figure").hidden = false;
  document.getElementById("drawn-characters").replaceChildren();
  showNote("draw something");
  document.getElementById("speed").textContent = "";
  delete pad.dataset.readPoints;
});

function showNote(text) {
  document.getElementById("drawn-top").innerHTML = "";
  const note = document.createElement("li");
  note.className = "note";
  note.textContent = text;
  document.getElementById("drawn-top").append(note);
}

function pointCount() {
  return strokes.reduce((total, stroke) => total + stroke.length, 0);
}

// A mark smaller than the pen (a click, a dot) is not a character yet.
function tooSmall() {
  const points = strokes.flat();
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)) < PEN;
}

// Drawings of handwriting may hold several characters (a number written on the pad), which the
// server finds as infer.py does in a picture; the browser reads one. Strokes in groups with a gap
// between them are clearly several: the server reads them when the pen is lifted. A drawing wider
// than the server's own measure (card.wider_than_tall) may be characters touching: the browser
// reads it as one as you draw, and the server is asked when the pen is lifted; its answer replaces
// the browser's only when it finds several.
function strokeGroups() {
  const spans = strokes
    .map((stroke) => stroke.map((point) => point.x))
    .map((xs) => [Math.min(...xs) - PEN / 2, Math.max(...xs) + PEN / 2]) // the pen's width too
    .sort((a, b) => a[0] - b[0]);
  let groups = 1;
  let right = spans[0][1];
  for (const [left, end] of spans.slice(1)) {
    if (left > right) groups += 1;
    right = Math.max(right, end);
  }
  return groups;
}

function clearlySeveral() {
  return card.reads_several && strokes.length > 0 && strokeGroups() >= 2;
}

function mayBeSeveral() {
  const points = strokes.flat();
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const width = Math.max(...xs) - Math.min(...xs) + PEN, height = Math.max(...ys) - Math.min(...ys) + PEN;
  return strokeGroups() >= 2 || width > card.wider_than_tall * height;
}

function changed() {
  redrawPad();
  checking += 1; // the server's look at the drawing before this stroke is stale now
  if (pending || !session) return;
  if (clearlySeveral()) {
    reading += 1; // and so is any answer for it
    showNote("several characters? read when you lift the pen");
    document.getElementById("drawn-characters").replaceChildren();
    return;
  }
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    if (clearlySeveral()) return; // said above; the server reads it when the pen is lifted
    readInBrowser().catch((error) => showNote(`could not read the drawing: ${error.message}`));
  });
}

// ---------------------------------------------------------------------------- framing

// The strokes -> grey levels [28 * 28] (0-255, ink high), framed as the model's data was.
function frameStrokes(framing) {
  const points = strokes.flat();
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const left = Math.min(...xs), top = Math.min(...ys);
  const spanX = Math.max(...xs) - left, spanY = Math.max(...ys) - top;
  const longest = Math.max(spanX, spanY, PEN); // a dot is framed as a pen-wide blob, not blown up
  let width, scale;
  if (framing === "fill") {
    scale = INK_SIDE.fill / (longest + PEN); // pictures keep their own proportions, pen included
    width = PEN * scale;
  } else {
    width = MNIST_STROKE;
    scale = (INK_SIDE[framing] - width) / longest; // ink extent: span * scale + stroke width
  }
  const inkX = spanX * scale + width, inkY = spanY * scale + width;
  const frame = document.createElement("canvas");
  frame.width = frame.height = SIDE;
  const context = frame.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, SIDE, SIDE);
  context.setTransform(scale, 0, 0, scale, (SIDE - inkX) / 2 + width / 2 - left * scale, (SIDE - inkY) / 2 + width / 2 - top * scale);
  drawStrokes(context, width / scale);
  const pixels = context.getImageData(0, 0, SIDE, SIDE).data; // RGBA
  const grey = Uint8ClampedArray.from({ length: SIDE * SIDE }, (_, i) => pixels[4 * i]);
  return framing === "mnist" ? centredByMass(grey) : grey;
}

// Move the ink by whole pixels so its centre of mass is on pixel (14, 14), as MNIST's was.
function centredByMass(grey) {
  let total = 0, rows = 0, columns = 0;
  let top = SIDE, bottom = -1, left = SIDE, right = -1;
  for (let i = 0; i < grey.length; i++) {
    const row = Math.floor(i / SIDE), column = i % SIDE, value = grey[i];
    total += value;
    rows += value * row;
    columns += value * column;
    if (value) {
      top = Math.min(top, row); bottom = Math.max(bottom, row);
      left = Math.min(left, column); right = Math.max(right, column);
    }
  }
  if (total === 0) return grey;
  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  const down = clamp(Math.floor(14 - rows / total + 0.5), -top, SIDE - 1 - bottom);
  const across = clamp(Math.floor(14 - columns / total + 0.5), -left, SIDE - 1 - right);
  const moved = new Uint8ClampedArray(SIDE * SIDE);
  for (let row = top; row <= bottom; row++)
    for (let column = left; column <= right; column++)
      moved[(row + down) * SIDE + column + across] = grey[row * SIDE + column];
  return moved;
}

function showFrame(grey) {
  const image = new ImageData(SIDE, SIDE);
  grey.forEach((value, i) => image.data.set([value, value, value, 255], 4 * i));
  seen.getContext("2d").putImageData(image, 0, 0);
}

// ---------------------------------------------------------------------------- reading

// A new read of the drawing -> its number and the points it covers; number null when there is
// nothing to read yet (no strokes, or a mark smaller than the pen, said on the page).
function startRead() {
  const number = ++reading;
  const points = pointCount();
  if (strokes.length === 0) return { number: null, points };
  if (tooSmall()) {
    showNote("keep drawing");
    pad.dataset.readPoints = points;
    return { number: null, points };
  }
  return { number, points };
}

async function readInBrowser() {
  const { number, points } = startRead();
  if (number === null) return;
  const started = performance.now();
  const grey = frameStrokes(card.framing);
  showFrame(grey);
  seen.closest("figure").hidden = false;
  document.getElementById("drawn-characters").replaceChildren();
  const input = Float32Array.from(grey, (value) => value / 127.5 - 1); // [-1, 1], as in training
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", input, [1, 1, SIDE, SIDE]) };
  const outputs = Array.from((await session.run(feeds))[session.outputNames[0]].data);
  if (number !== reading) return; // a newer read began while this one ran
  let top;
  if (card.has_confidence) {
    const peak = Math.max(...outputs);
    const exponentials = outputs.map((value) => Math.exp(value - peak));
    const sum = exponentials.reduce((a, b) => a + b, 0);
    top = exponentials.map((value, i) => [card.classes[i], value / sum]).sort((a, b) => b[1] - a[1]).slice(0, TOPK);
  } else {
    // the regression baseline: its one value rounded (halves to even, as Paddle and NumPy) and clipped
    const index = Math.min(Math.max(roundHalfToEven(outputs[0]), 0), card.classes.length - 1);
    top = [[card.classes[index], null]];
  }
  showTop(document.getElementById("drawn-top"), top);
  document.getElementById("speed").textContent = `read in ${(performance.now() - started).toFixed(1)} ms in your browser`;
  pad.dataset.readPoints = points; // for tests: the answer shown is for this many points
}

function roundHalfToEven(value) {
  if (Number.isNaN(value)) return 0; // a diverged model: the first class, as the Python backends
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

async function ask(body) {
  // -> the server's JSON answer, or {error} in words
  try {
    const response = await fetch("/api/recognise", { method: "POST", body });
    return await response.json();
  } catch (error) {
    return { error: `the server did not answer (${error.message}); is python -m handwriting.serve still running?` };
  }
}

async function readOnServer() {
  const { number, points } = startRead();
  if (number === null) return;
  const started = performance.now();
  const answer = await ask(await new Promise((resolve) => pad.toBlob(resolve, "image/png")));
  if (number !== reading) return;
  pad.dataset.readPoints = points;
  showServerAnswer(answer, started);
}

// When the pen is lifted from a drawing that may hold several characters: the server's answer, where
// it finds several (or the strokes are clearly apart), replaces the browser's reading of one.
async function checkOnServer() {
  const number = ++checking;
  const points = pointCount();
  const apart = strokeGroups() >= 2;
  const started = performance.now();
  const answer = await ask(await new Promise((resolve) => pad.toBlob(resolve, "image/png")));
  if (number !== checking) return; // drawn on, or cleared, since
  if (apart || answer.characters) {
    reading += 1; // a reading of one in the browser, still running, is not shown over it
    pad.dataset.readPoints = points;
    showServerAnswer(answer, started);
  }
  pad.dataset.checkedPoints = points; // for tests: the server has looked at this many points
}

function showServerAnswer(answer, started) {
  if (answer.error) return showNote(answer.error);
  showAnswer(document.getElementById("drawn-top"), answer);
  document.getElementById("speed").textContent = `read by the server in ${(performance.now() - started).toFixed(0)} ms`;
  showCharacters(document.getElementById("drawn-characters"), answer.characters || []);
  seen.getContext("2d").clearRect(0, 0, SIDE, SIDE);
  seen.closest("figure").hidden = Boolean(answer.characters); // several: each one's 28x28 is in the strip
  if (answer.characters) return;
  const image = new Image();
  image.onload = () => seen.getContext("2d").drawImage(image, 0, 0);
  image.src = answer.frame;
}

document.getElementById("upload").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  const error = document.getElementById("upload-error");
  const list = document.getElementById("upload-top");
  if (!file || !card) return;
  const number = ++uploading;
  error.textContent = "";
  list.replaceChildren();
  document.getElementById("upload-seen").removeAttribute("src"); // not the last picture's 28x28
  document.getElementById("upload-characters").replaceChildren(); // nor its characters
  if (file.size > card.max_upload) {
    error.textContent = `${file.name} is ${file.size.toLocaleString()} bytes; the limit is ${card.max_upload.toLocaleString()}`;
    return;
  }
  const answer = await ask(file);
  if (number !== uploading) return; // another picture was chosen meanwhile
  if (answer.error) {
    error.textContent = `${file.name}: ${answer.error}`;
    return;
  }
  showAnswer(list, answer);
  if (answer.characters) showCharacters(document.getElementById("upload-characters"), answer.characters);
  else document.getElementById("upload-seen").src = answer.frame;
});

function showAnswer(list, answer) {
  // the server's answer: its top classes, or for several characters their text and the least sure one's confidence
  if (!answer.characters) return showTop(list, answer.topk);
  showTop(list, [[answer.label, answer.confidence]]);
  const whole = list.firstElementChild;
  if (answer.confidence !== null) whole.textContent = `${answer.label}  min ${percent(answer.confidence)}`;
  whole.title = "the text, with its least sure character's confidence";
}

function showCharacters(strip, characters) {
  // characters: [{label, confidence, frame, line}, ...] -> a strip of what the model saw, one per character
  strip.replaceChildren(
    ...characters.map((character) => {
      const figure = document.createElement("figure");
      const image = document.createElement("img");
      image.className = "seen small";
      image.src = character.frame;
      image.alt = character.topk.length ? `the 28x28 read as ${character.label}` : `a ${character.label} told by its shape and place`;
      const caption = document.createElement("figcaption");
      caption.textContent = character.label;
      if (character.confidence !== null) figure.title = `${character.label}: ${percent(character.confidence)}`;
      figure.append(image, caption);
      return figure;
    })
  );
}

// ---------------------------------------------------------------------------- start

async function start() {
  card = await (await fetch("/api/card")).json();
  const about = document.getElementById("about");
  if (card.in_browser) {
    ort.env.wasm.wasmPaths = "/vendor/onnxruntime-web/";
    ort.env.logLevel = "error"; // not its notes on the graph
    ort.env.wasm.numThreads = 1; // threads need cross-origin isolation; one is plenty for 28x28
    session = await ort.InferenceSession.create("/model.onnx", { executionProviders: ["wasm"] });
    about.textContent = `${card.model}: ${card.classes.length} classes, framed as ${card.framing}; drawings are read in your browser.`;
  } else {
    about.textContent = `${card.model}: drawings are read by the server (${card.why_not_in_browser}).`;
  }
  redrawPad();
  document.body.dataset.ready = "yes"; // for tests: the model is loaded
}

start().catch((error) => {
  document.getElementById("about").textContent = `The page could not start: ${error.message}`;
  document.body.dataset.ready = "failed";
});
