// worldstereo run viewer: cache points, camera frustums and videos, synchronised by one frame slider.
// World axes are OpenCV (x right, y down, z forward), so the orbit camera's "up" is -y.
// State for tests and scripts is mirrored on <body>: data-highlight="traj:frame",
// data-highlight-center="x,y,z", data-reference="bank index or empty", data-video-times,
// data-layers="layer:count,…" (visible ones), data-bank-frustums (drawn), data-nonblank, data-ready.
// Run data is untrusted: it reaches the DOM only as text (textContent, new Option, attributes set
// one by one), never as markup, and file paths become URLs one encoded component at a time.
// A classic script (not a module) so it runs from disk too; html.py turns three.js into globalThis.THREE.
"use strict";
const THREE = globalThis.THREE;
const { OrbitControls } = THREE;

const data = JSON.parse(document.getElementById("run-data").textContent);
const params = new URLSearchParams(location.search);
const BACKGROUND = 0x15171c, CURRENT = 0xffe14d, REFERENCE = 0xff3df2, BANK = 0x8a8f99;
const $ = (id) => document.getElementById(id);
function element(tag, text, attrs = {}) {
  const el = document.createElement(tag);
  if (text != null) el.textContent = text;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}
// "trajectories/a b/video.mp4" -> "trajectories/a%20b/video.mp4": a name holding "#", "?" or "%" stays a path.
const fileUrl = (rel) => rel.split("/").map(encodeURIComponent).join("/");

const canvas = $("scene");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(window.devicePixelRatio);
renderer.setClearColor(BACKGROUND);
const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(55, 1, data.extent * 1e-3, data.extent * 50);
camera.up.set(0, -1, 0);
const center = new THREE.Vector3(...data.center);
// Start behind, above and to the right of the input camera (the world origin), looking at the scene's centre.
camera.position.set(0.22 * data.extent, -0.22 * data.extent, -0.26 * data.extent);
const controls = new OrbitControls(camera, canvas);
controls.target.copy(center);
controls.update();

function decode(b64, Type) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Type(bytes.buffer);
}

// Layers: "cache" (3D cache points), "points" and "mesh" (reconstruction); ?layers=a,b picks the visible ones.
const LAYER_NAMES = { cache: "3D cache", points: "reconstructed points", mesh: "reconstructed mesh" };
const layers = {};
function coloured(layer) {
  const g = new THREE.BufferGeometry();
  g.setAttribute("position", new THREE.BufferAttribute(decode(layer.xyz, Float32Array), 3));
  g.setAttribute("color", new THREE.BufferAttribute(decode(layer.rgb, Uint8Array), 3, true));
  return g;
}
for (const key of ["cache", "points"]) {
  if (!data.layers[key]) continue;
  const material = new THREE.PointsMaterial({ size: data.extent * 4e-3, vertexColors: true });
  layers[key] = { object: new THREE.Points(coloured(data.layers[key]), material), count: data.layers[key].n };
}
if (data.layers.mesh) {
  const g = coloured(data.layers.mesh);
  g.setIndex(new THREE.BufferAttribute(decode(data.layers.mesh.index, Uint32Array), 1));
  g.computeVertexNormals();
  // Front faces only: a reconstructed room's walls face its cameras, so from outside the near walls
  // vanish and the inside stays visible (a doll's-house view).
  const material = new THREE.MeshLambertMaterial({ vertexColors: true, side: THREE.FrontSide });
  layers.mesh = { object: new THREE.Mesh(g, material), count: data.layers.mesh.faces };
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
}
const wanted = params.get("layers")?.split(",") ?? [["cache", "points", "mesh"].find((k) => data.layers[k])];
for (const [key, layer] of Object.entries(layers)) {
  layer.object.visible = wanted.includes(key);
  scene.add(layer.object);
}

// corners: flat (N, 5, 3): centre then four image corners; one frustum = 8 line segments.
function frustumSegments(corners, frames, grow = 1) {
  const out = [];
  for (const f of frames) {
    const p = [];
    for (let k = 0; k < 5; k++) p.push(new THREE.Vector3().fromArray(corners, (f * 5 + k) * 3));
    for (let k = 1; k < 5; k++) p[k].sub(p[0]).multiplyScalar(grow).add(p[0]);
    for (let k = 1; k < 5; k++) out.push(p[0], p[k], p[k], p[k === 4 ? 1 : k + 1]);
  }
  return out;
}

function lines(points, color, opacity = 1) {
  const g = new THREE.BufferGeometry().setFromPoints(points);
  const m = new THREE.LineBasicMaterial({ color, transparent: opacity < 1, opacity });
  return new THREE.LineSegments(g, m);
}

const range = (n) => [...Array(n).keys()];
for (const t of data.trajectories) {
  scene.add(lines(frustumSegments(t.corners, range(t.n)), t.color, 0.55));
  const path = range(t.n).map((f) => new THREE.Vector3().fromArray(t.corners, f * 15));
  scene.add(new THREE.Line(new THREE.BufferGeometry().setFromPoints(path), new THREE.LineBasicMaterial({ color: t.color })));
}
// --plan auto: every candidate path of every planning step; chosen green, admitted but outscored
// blue, refused grey. ?plan=0 hides them. data-plan-paths="chosen:n,admitted:n,refused:n" (drawn).
const PLAN_COLORS = { chosen: "#2ca02c", admitted: "#1f77b4", refused: "#9a9a9a" };
const planPaths = new THREE.Group();
for (const p of data.plan ?? []) {
  const pts = range(p.path.length / 3).map((i) => new THREE.Vector3().fromArray(p.path, i * 3));
  const m = new THREE.LineBasicMaterial({ color: PLAN_COLORS[p.kind], transparent: p.kind === "refused",
    opacity: p.kind === "refused" ? 0.45 : 1 });
  planPaths.add(new THREE.Line(new THREE.BufferGeometry().setFromPoints(pts), m));
}
planPaths.visible = params.get("plan") !== "0";
scene.add(planPaths);
document.body.dataset.planPaths = Object.keys(PLAN_COLORS)
  .map((k) => `${k}:${planPaths.visible ? (data.plan ?? []).filter((p) => p.kind === k).length : 0}`).join(",");
// The memory bank's frames as grey frustums; ?bank=0 hides them (to compare a view with and without).
const bankFrustums = new THREE.Group();
for (const b of data.bank) bankFrustums.add(lines(frustumSegments(b.corners, [0]), BANK, 0.6));
bankFrustums.visible = params.get("bank") !== "0";
scene.add(bankFrustums);
document.body.dataset.bankFrustums = String(bankFrustums.visible ? bankFrustums.children.length : 0);

const current = lines(frustumSegments(data.trajectories[0]?.corners ?? new Array(15).fill(0), [0], 1.8), CURRENT);
const reference = lines(frustumSegments(new Array(15).fill(0), [0], 1.8), REFERENCE);
const marker = new THREE.Mesh(new THREE.SphereGeometry(data.scale * 0.25), new THREE.MeshBasicMaterial({ color: CURRENT }));
scene.add(current, reference, marker);

function moveFrustum(obj, corners, frame) {
  obj.geometry.setFromPoints(frustumSegments(corners, [frame], 1.8));
  obj.geometry.attributes.position.needsUpdate = true;
  obj.geometry.computeBoundingSphere();
}

function render() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) || canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
    renderer.setSize(w, h, false);
    camera.aspect = w / Math.max(h, 1);
    camera.updateProjectionMatrix();
  }
  renderer.render(scene, camera);
}

function countNonBlank() {
  const gl = renderer.getContext();
  const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
  const px = new Uint8Array(w * h * 4);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
  const bg = [BACKGROUND >> 16, (BACKGROUND >> 8) & 255, BACKGROUND & 255];
  let n = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (Math.abs(px[i] - bg[0]) + Math.abs(px[i + 1] - bg[1]) + Math.abs(px[i + 2] - bg[2]) > 12) n++;
  }
  return n;
}

// --- controls --------------------------------------------------------------------------------
const select = $("traj"), slider = $("frame"), figures = [...document.querySelectorAll("#strip figure[data-kind]")];
let traj = null;

for (const [name, status] of Object.entries(data.statuses)) {
  const option = new Option(`${name} (${status})`, name);
  option.disabled = !data.trajectories.some((t) => t.name === name);  // no cameras.json yet
  select.add(option);
}
for (const [key, l] of Object.entries(layers)) {
  const box = element("input", null, { type: "checkbox" });
  box.dataset.layer = key;
  box.checked = l.object.visible;
  box.addEventListener("change", () => { l.object.visible = box.checked; showLayers(); render(); });
  const label = element("label");
  label.append(box, " " + LAYER_NAMES[key] + " ");
  $("layers").append(label);
}
function showLayers() {
  document.body.dataset.layers = Object.entries(layers).filter(([, l]) => l.object.visible).map(([k, l]) => `${k}:${l.count}`).join(",");
}
showLayers();
// Colours through the CSSOM: a style="" attribute would need 'unsafe-inline' in the CSP.
for (const [name, color] of [...data.trajectories.map((t) => [t.name, t.color]),
  ["memory bank", "#8a8f99"], ["current", "#ffe14d"], ["reference", "#ff3df2"],
  ...((data.plan ?? []).length ? Object.entries(PLAN_COLORS).map(([k, c]) => [`plan: ${k}`, c]) : [])]) {
  const span = element("span", name);
  span.style.setProperty("--c", color);
  $("legend").append(span);
}

function referenceOf(t, frame) {
  const r = t.references;
  const k = r ? r.targets.indexOf(frame) : -1;
  return k < 0 ? null : { bank: r.references[k], score: r.scores?.[k], angle: r.angles?.[k] };
}

function selectTrajectory(name) {
  traj = data.trajectories.find((t) => t.name === name) ?? data.trajectories[0];
  select.value = traj.name;
  slider.max = traj.n - 1;
  $("targets").replaceChildren(...(traj.references?.targets ?? []).map((f) => element("option", null, { value: String(f) })));
  for (const fig of figures) {
    const src = traj.videos[fig.dataset.kind];
    fig.querySelector(".absent")?.remove();
    const video = fig.querySelector("video");
    video.hidden = !src;
    if (src) {
      video.src = fileUrl(src);
      video.onloadedmetadata = () => seekVideos(Number(slider.value));
    } else {
      video.removeAttribute("src");
      fig.prepend(element("div", `${fig.dataset.kind}.mp4 not written`, { class: "absent" }));
    }
  }
}

function seekVideos(frame) {
  for (const fig of figures) {
    const video = fig.querySelector("video");
    // Aim at the middle of the frame's display interval so rounding never shows its neighbour.
    if (!video.hidden && video.readyState >= 1) video.currentTime = (frame + 0.5) / traj.fps;
  }
}

// Mirrors where each video stands once a seek lands ("kind=seconds", empty for a missing video).
for (const fig of figures) {
  fig.querySelector("video").addEventListener("seeked", () => {
    document.body.dataset.videoTimes = figures.map((f) => {
      const v = f.querySelector("video");
      return `${f.dataset.kind}=${v.hidden ? "" : v.currentTime.toFixed(4)}`;
    }).join(",");
  });
}

function setFrame(frame) {
  frame = Math.max(0, Math.min(traj.n - 1, frame));
  slider.value = frame;
  moveFrustum(current, traj.corners, frame);
  marker.position.fromArray(traj.corners, frame * 15);
  const ref = referenceOf(traj, frame);
  const bank = ref && data.bank.find((b) => b.index === ref.bank);
  reference.visible = Boolean(bank);
  if (bank) moveFrustum(reference, bank.corners, 0);
  const fig = $("reference");
  fig.querySelector("img").hidden = !bank?.image;
  if (bank?.image) fig.querySelector("img").src = fileUrl(bank.image);
  fig.querySelector("figcaption").textContent = bank
    ? `reference: bank frame ${bank.index} (${bank.source})` + (ref.score != null ? `, score ${ref.score.toFixed(2)}` : "")
      + (ref.angle != null ? `, ${ref.angle.toFixed(0)}°` : "") + (bank.image ? "" : ", image not written")
    : traj.references ? "no reference retrieved for this frame (targets are marked on the slider)" : "references.json not written";
  $("frame-label").textContent = `frame ${frame} / ${traj.n - 1}`;
  seekVideos(frame);
  Object.assign(document.body.dataset, {
    highlight: `${traj.name}:${frame}`,
    highlightCenter: traj.corners.slice(frame * 15, frame * 15 + 3).join(","),
    reference: bank ? String(bank.index) : "",
  });
  render();
}

select.addEventListener("change", () => { selectTrajectory(select.value); setFrame(0); });
slider.addEventListener("input", () => setFrame(Number(slider.value)));
let timer = null;
$("play").addEventListener("click", () => {
  clearInterval(timer);
  timer = timer === null ? setInterval(() => setFrame((Number(slider.value) + 1) % traj.n), 1000 / traj.fps) : null;
  $("play").textContent = timer === null ? "▶" : "❚❚";
});
controls.addEventListener("change", render);
window.addEventListener("resize", render);

const missing = $("missing");
missing.hidden = data.missing.length === 0;
missing.open = data.missing.length > 0;
missing.querySelector("summary").textContent = `${data.missing.length} missing or unreadable item(s) in this run`;
missing.querySelector("ul").replaceChildren(...data.missing.map((m) => element("li", m)));

if (data.trajectories.length) {
  selectTrajectory(params.get("traj"));
  // ?frame=N goes through the slider's own input event, as a user's drag does.
  slider.value = params.get("frame") ?? 0;
  slider.dispatchEvent(new Event("input"));
} else {
  current.visible = reference.visible = marker.visible = false;
  $("strip").hidden = true;
  render();
}
document.body.dataset.nonblank = String(countNonBlank());
document.body.dataset.ready = "1";
