// The ferkit page: send a photo or webcam frames to /v1/predict, draw boxes and emotion bars.
// Plain script, no dependencies: the page must work with no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas"), ctx = canvas.getContext("2d");
let colours = {};
let webcam = null; // the MediaStream while the webcam is on
// Bumped by every new photo and every webcam start or stop: an answer that arrives after a newer
// request began (a late webcam frame after a file was picked, say) is dropped instead of drawn.
let generation = 0;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModelCard() {
  try {
    const r = await fetch("/v1/model");
    const card = await r.json();
    if (!r.ok) throw new Error(card.error || `server answered ${r.status}`);
    colours = card.colours || {};
    const acc = card.test_accuracy == null ? "" : `, test accuracy ${(100 * card.test_accuracy).toFixed(1)}%`;
    const int8 = card.precision === "int8" ? ", int8" : "";
    $("model").textContent = `model ${card.name} (${card.arch}${int8}${acc})`;
  } catch (e) {
    $("model").textContent = "model card unavailable";
  }
}

async function predict(blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  const url = "/v1/predict" + ($("tta").checked ? "?tta=true" : "");
  const r = await fetch(url, { method: "POST", body: form });
  let body;
  try {
    body = await r.json();
  } catch (e) {
    throw new Error(`server answered ${r.status}`);
  }
  if (!r.ok) throw new Error(body.error || `server answered ${r.status}`);
  return body;
}

function drawFaces(image, result) {
  canvas.width = image.width;
  canvas.height = image.height;
  ctx.drawImage(image, 0, 0);
  const thick = Math.max(2, Math.round(Math.min(image.width, image.height) / 200));
  ctx.font = `bold ${Math.max(14, thick * 7)}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const face of result.faces) {
    const b = face.box, colour = colours[face.label] || "#2a7";
    ctx.lineWidth = thick;
    ctx.strokeStyle = colour;
    ctx.strokeRect(b.x, b.y, b.w, b.h);
    const text = `${face.label} ${(100 * face.confidence).toFixed(0)}%`;
    const w = ctx.measureText(text).width + 8, h = thick * 7 + 8;
    const top = b.y - h >= 0 ? b.y - h : b.y + b.h; // above the box, else below
    ctx.fillStyle = colour;
    ctx.fillRect(b.x - thick / 2, top, w, h);
    ctx.fillStyle = "#000";
    ctx.fillText(text, b.x + 4, top + h - 3);
  }
}

function listFaces(result) {
  const list = $("faces");
  list.replaceChildren();
  result.faces.forEach((face, i) => {
    const item = document.createElement("li");
    item.className = "face";
    item.style.setProperty("--colour", colours[face.label] || "#2a7");
    const head = document.createElement("div");
    head.innerHTML = `Face ${i + 1}: <span class="label"></span>`;
    head.querySelector(".label").textContent = `${face.label} ${(100 * face.confidence).toFixed(0)}%`;
    item.append(head);
    for (const [name, p] of Object.entries(face.probabilities)) {
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span>' +
        '<span class="pct"></span>';
      bar.querySelector(".name").textContent = name;
      const fill = bar.querySelector(".fill");
      fill.style.width = `${(100 * p).toFixed(1)}%`;
      fill.style.display = "block";
      fill.style.background = colours[name] || "#888";
      bar.querySelector(".pct").textContent = `${(100 * p).toFixed(0)}%`;
      item.append(bar);
    }
    list.append(item);
  });
}

function show(image, result) {
  drawFaces(image, result);
  listFaces(result);
  const n = result.faces.length;
  status(n ? `${n} face${n > 1 ? "s" : ""} in ${result.timing.total_ms.toFixed(0)} ms`
           : "no face found in this image");
}

async function handleFile(file) {
  if (!file) return;
  stopWebcam();
  const mine = ++generation;
  status(`sending ${file.name}...`);
  try {
    const result = await predict(file, file.name);
    // The browser decodes for display; the boxes are in the same (EXIF-rotated) pixel frame.
    const image = await createImageBitmap(file);
    if (mine === generation) show(image, result);
  } catch (e) {
    if (mine !== generation) return;
    $("faces").replaceChildren();
    status(e.message, true);
  }
}

async function webcamLoop(video, mine) {
  const frame = document.createElement("canvas");
  while (mine === generation) { // a stop, a restart or a picked file ends this loop
    frame.width = video.videoWidth;
    frame.height = video.videoHeight;
    if (frame.width) {
      frame.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((done) => frame.toBlob(done, "image/jpeg", 0.85));
      try {
        const result = await predict(blob, "webcam.jpg");
        if (mine === generation) show(frame, result);
      } catch (e) {
        if (mine === generation) status(e.message, true);
      }
    }
    await new Promise((done) => setTimeout(done, 150)); // leave the server time for other clients
  }
}

async function startWebcam() {
  const mine = ++generation;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (e) {
    if (mine === generation) status(`webcam unavailable: ${e.message}`, true);
    return;
  }
  if (mine !== generation) { // a file was picked while the browser asked for the camera
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  webcam = stream;
  const video = $("video");
  video.srcObject = webcam;
  await video.play();
  if (mine !== generation) return; // stopped while it started
  $("webcam").textContent = "Stop the webcam";
  $("webcam").classList.add("on");
  status("webcam on");
  webcamLoop(video, mine);
}

function stopWebcam() {
  if (!webcam) return;
  generation++;
  webcam.getTracks().forEach((t) => t.stop());
  webcam = null;
  $("webcam").textContent = "Use the webcam";
  $("webcam").classList.remove("on");
}

$("file").addEventListener("change", (e) => handleFile(e.target.files[0]));
$("webcam").addEventListener("click", () => (webcam ? stopWebcam() : startWebcam()));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  handleFile(e.dataTransfer.files[0]);
});
loadModelCard();
