// The staff console: one page, hash routes, the same /v1 API as any client (session cookie + CSRF token).
// No build step, no library, nothing loaded from elsewhere. Vietnamese first; English with the toggle.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const view = document.getElementById("view");
let lang = localStorage.getItem("dd-lang") || "vi";
let stream = null;

const T = {
  vi: {
    "nav.orders": "Đơn hàng", "nav.new": "Tạo đơn", "nav.exceptions": "Cần xử lý", "nav.handover": "Bàn giao",
    "nav.couriers": "Đơn vị vận chuyển", "nav.reports": "Báo cáo", "nav.statements": "Đối soát", "nav.logout": "Đăng xuất",
    yes: "Đồng ý", no: "Không", live: "Cập nhật trực tiếp", all: "Tất cả", filter: "Lọc", loading: "Đang tải…",
    orders: "Đơn hàng", dossier: "Mã hồ sơ", kind: "Loại", courier: "Đơn vị vận chuyển", status: "Trạng thái",
    tracking: "Mã vận đơn", created: "Tạo lúc", none: "Không có đơn nào.", more: "Xem thêm",
    pickup: "Nhận hồ sơ tại nhà", delivery: "Trả kết quả tại nhà", round_trip: "Cả hai chiều",
    "new.title": "Tạo đơn mới", "new.kind": "Loại đơn", procedure_code: "Mã thủ tục", procedure_name: "Tên thủ tục",
    appointment_date: "Ngày hẹn trả", citizen: "Người dân", name: "Họ và tên", phone: "Số điện thoại", email: "Email",
    id_number: "Số CCCD/CMND/hộ chiếu", address: "Địa chỉ", province: "Tỉnh/thành phố", ward: "Phường/xã",
    street: "Số nhà, đường", documents: "Giấy tờ", doc_name: "Tên giấy tờ", original: "Bản chính", count: "Số lượng",
    add_doc: "Thêm giấy tờ", payment: "Cước và phí", agency_fee: "Lệ phí thu hộ (đồng)", postage_payer: "Người trả cước",
    payer_citizen: "Người dân", payer_centre: "Cơ quan trả trước", courier_default: "Mặc định của trung tâm",
    create: "Tạo đơn", choose: "— chọn —", created_ok: "Đã tạo đơn.", fix: "Vui lòng sửa các ô được đánh dấu.",
    timeline: "Hành trình", deadlines: "Thời hạn", due_date: "Hạn phát (J+n)", failed_attempts: "Lần phát không thành công",
    next_attempt_due: "Hạn phát lại", return_due: "Hạn chuyển hoàn", money: "Tiền", quoted_fee: "Cước báo giá",
    fee: "Cước hiện tại", cod_expected: "Thu hộ yêu cầu", cod: "Thu hộ đơn vị báo", actions: "Thao tác",
    cancel: "Hủy đơn", redeliver: "Phát lại", "return": "Chuyển hoàn", release: "Kết quả đã có: gửi đi",
    reroute: "Chuyển đơn vị vận chuyển", result_ready: "Báo kết quả đã sẵn sàng",
    note_pdf: "In phiếu gửi (PDF)", handover_pdf: "Biên bản giao nhận (PDF)", confirm: "Xác nhận",
    "confirm.cancel": "Hủy đơn này?", "confirm.redeliver": "Yêu cầu phát lại?", "confirm.return": "Yêu cầu chuyển hoàn về người gửi?",
    "confirm.release": "Gửi kết quả đi?", "confirm.reroute": "Hủy ở đơn vị hiện tại và gửi cho đơn vị khác?",
    "confirm.result_ready": "Báo cho người dân là kết quả đã sẵn sàng (có thể yêu cầu trả tại nhà)?",
    done: "Đã thực hiện.", not_applied: "không áp dụng", reasons: "Lý do", exceptions: "Đơn cần xử lý",
    no_exceptions: "Không có đơn nào cần xử lý.", circuit: "Trạng thái kết nối", retry_at: "Thử lại lúc",
    queue: "Hàng đợi", last_callback: "Callback gần nhất", rejected: "Callback bị từ chối",
    closed: "Bình thường", open: "Tạm ngắt", half_open: "Đang thử lại", month: "Tháng", show: "Xem",
    print: "In", statements: "Bảng kê đối soát", file: "Tệp (CSV hoặc XLSX)", period_start: "Từ ngày",
    period_end: "Đến ngày", import: "Đối soát", lines: "Dòng", matched: "Khớp", mismatches: "Chênh lệch",
    problem: "Vấn đề", row: "Dòng", statement_amount: "Bảng kê", ours: "Của ta", handover: "Bàn giao cho đơn vị vận chuyển",
    direction: "Chiều", to_courier: "Trung tâm giao cho đơn vị vận chuyển", from_courier: "Đơn vị vận chuyển giao cho trung tâm",
    make_record: "Lập biên bản (PDF)", select: "Chọn", location: "Nơi", order: "Đơn", error: "Lỗi",
  },
  en: {
    "nav.orders": "Orders", "nav.new": "New order", "nav.exceptions": "Needs action", "nav.handover": "Handover",
    "nav.couriers": "Couriers", "nav.reports": "Reports", "nav.statements": "Statements", "nav.logout": "Sign out",
    yes: "Yes", no: "No", live: "Live", all: "All", filter: "Filter", loading: "Loading…",
    orders: "Orders", dossier: "Dossier code", kind: "Kind", courier: "Courier", status: "Status",
    tracking: "Tracking code", created: "Created", none: "No orders.", more: "More",
    pickup: "Pickup at home", delivery: "Result to the home", round_trip: "Round trip",
    "new.title": "New order", "new.kind": "Kind of order", procedure_code: "Procedure code", procedure_name: "Procedure name",
    appointment_date: "Result date", citizen: "Citizen", name: "Full name", phone: "Phone", email: "Email",
    id_number: "ID number", address: "Address", province: "Province", ward: "Ward/commune",
    street: "House number, street", documents: "Documents", doc_name: "Document", original: "Original", count: "Count",
    add_doc: "Add a document", payment: "Postage and fees", agency_fee: "Agency fee to collect (VND)", postage_payer: "Postage paid by",
    payer_citizen: "The citizen", payer_centre: "The centre (prepaid)", courier_default: "The centre's default",
    create: "Create", choose: "— choose —", created_ok: "Order created.", fix: "Please correct the marked fields.",
    timeline: "Timeline", deadlines: "Deadlines", due_date: "Due (J+n)", failed_attempts: "Failed attempts",
    next_attempt_due: "Next attempt due", return_due: "Return due", money: "Money", quoted_fee: "Quoted fee",
    fee: "Current fee", cod_expected: "COD asked", cod: "COD reported", actions: "Actions",
    cancel: "Cancel", redeliver: "Redeliver", "return": "Return to sender", release: "Result ready: send it",
    reroute: "Change courier", result_ready: "Mark the result ready",
    note_pdf: "Consignment note (PDF)", handover_pdf: "Handover record (PDF)", confirm: "Confirm",
    "confirm.cancel": "Cancel this order?", "confirm.redeliver": "Ask for another attempt?", "confirm.return": "Return it to the sender?",
    "confirm.release": "Send the result?", "confirm.reroute": "Cancel at this courier and send with another?",
    "confirm.result_ready": "Tell the citizen the result is ready (they may ask for home delivery)?",
    done: "Done.", not_applied: "not applied", reasons: "Reasons", exceptions: "Orders that need action",
    no_exceptions: "Nothing needs action.", circuit: "Circuit", retry_at: "Retry at",
    queue: "Queue", last_callback: "Last callback", rejected: "Refused callbacks",
    closed: "Closed", open: "Open", half_open: "Half-open", month: "Month", show: "Show",
    print: "Print", statements: "Courier statements", file: "File (CSV or XLSX)", period_start: "From",
    period_end: "To", import: "Reconcile", lines: "Lines", matched: "Matched", mismatches: "Mismatches",
    problem: "Problem", row: "Row", statement_amount: "Statement", ours: "Ours", handover: "Handover to a courier",
    direction: "Direction", to_courier: "Centre hands to courier", from_courier: "Courier hands to centre",
    make_record: "Make the record (PDF)", select: "Select", location: "Place", order: "Order", error: "Error",
  },
};
const STATUS = {
  vi: { accepted: "Đã tiếp nhận", dispatch_failed: "Gửi đơn lỗi", booked: "Đã đặt", pickup_started: "Đang đến lấy",
    pickup_failed: "Lấy không thành công", picked_up: "Đã lấy", in_transit: "Đang vận chuyển",
    out_for_delivery: "Đang giao", delivery_failed: "Giao không thành công", awaiting_instruction: "Chờ chỉ dẫn",
    held_for_collection: "Chờ nhận tại bưu cục", delivered: "Đã giao", returning: "Đang chuyển hoàn",
    returned: "Đã chuyển hoàn", cancelled: "Đã hủy", lost: "Thất lạc", damaged: "Hư hỏng", exception: "Sự cố" },
  en: { accepted: "Accepted", dispatch_failed: "Dispatch failed", booked: "Booked", pickup_started: "Pickup started",
    pickup_failed: "Pickup failed", picked_up: "Picked up", in_transit: "In transit", out_for_delivery: "Out for delivery",
    delivery_failed: "Delivery failed", awaiting_instruction: "Awaiting instruction", held_for_collection: "Held for collection",
    delivered: "Delivered", returning: "Returning", returned: "Returned", cancelled: "Cancelled", lost: "Lost",
    damaged: "Damaged", exception: "Exception" },
};
const COURIERS = { vnpost: "Bưu điện (VNPost)", viettelpost: "Viettel Post", ghn: "GHN", ghtk: "GHTK" };
const t = (key) => (T[lang][key] ?? key);
const statusLabel = (s) => (s ? STATUS[lang][s] || s : "?");

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh", dateStyle: "short", timeStyle: "short" });
}
function day(iso) { return iso ? new Date(iso + "T00:00:00+07:00").toLocaleDateString(lang === "vi" ? "vi-VN" : "en-GB") : "—"; }
function vnd(n) { return n == null ? "—" : Number(n).toLocaleString("vi-VN") + " đ"; }
function badge(status) {
  const kind = status === "delivered" ? "delivered" : ["dispatch_failed", "pickup_failed", "delivery_failed", "lost", "damaged", "exception", "cancelled", "returned"].includes(status) ? "bad" : "moving";
  return `<span class="badge ${kind}" data-status="${esc(status)}">${esc(statusLabel(status))}</span>`;
}

async function api(method, path, body, headers = {}) {
  const options = { method, headers: { "X-CSRF-Token": CSRF, ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    if (body instanceof ArrayBuffer) { options.body = body; } else { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  }
  const response = await fetch(path, options);
  if (response.status === 401) { location.href = "/console/login"; throw new Error("signed out"); }
  const data = (response.headers.get("content-type") || "").includes("json") ? await response.json() : null;
  if (!response.ok) { const error = new Error((data && data.detail) || response.statusText); error.problem = data; throw error; }
  return data;
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.getElementById("lang").textContent = lang === "vi" ? "English" : "Tiếng Việt";
}

function confirmDialog(text, extra = "") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-extra").innerHTML = extra;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? dialog : null), { once: true }));
}

function follow(onChange) {
  if (stream) stream.close();
  stream = new EventSource("/v1/stream");
  stream.addEventListener("order", (e) => onChange(JSON.parse(e.data)));
  stream.addEventListener("ready", () => { const live = document.getElementById("live"); if (live) live.hidden = false; });
}

// -- the orders board ---------------------------------------------------------------------------------
async function board(params) {
  const q = new URLSearchParams(params);
  const options = (values, label, selected) => `<option value="">${t("all")}</option>` + values.map((v) => `<option value="${v}" ${v === selected ? "selected" : ""}>${esc(label(v))}</option>`).join("");
  view.innerHTML = `<h1>${t("orders")} <span id="live" class="live" hidden>${t("live")}</span></h1>
  <form id="filters" class="grid no-print" role="search">
    <div><label for="f-status">${t("status")}</label><select id="f-status" name="status">${options(Object.keys(STATUS.vi), statusLabel, q.get("status"))}</select></div>
    <div><label for="f-courier">${t("courier")}</label><select id="f-courier" name="courier">${options(Object.keys(COURIERS), (c) => COURIERS[c], q.get("courier"))}</select></div>
    <div><label for="f-kind">${t("kind")}</label><select id="f-kind" name="kind">${options(["pickup", "delivery"], t, q.get("kind"))}</select></div>
    <div><label for="f-dossier">${t("dossier")}</label><input id="f-dossier" name="dossier_code" value="${esc(q.get("dossier_code") || "")}"></div>
    <div class="row"><button type="submit">${t("filter")}</button></div>
  </form>
  <div class="table-wrap"><table><caption class="muted">${t("orders")}</caption><thead><tr><th scope="col">${t("dossier")}</th><th scope="col">${t("kind")}</th><th scope="col">${t("courier")}</th>
  <th scope="col">${t("status")}</th><th scope="col" class="hide-narrow">${t("tracking")}</th><th scope="col" class="hide-narrow">${t("created")}</th></tr></thead><tbody id="rows"></tbody></table></div>`;
  document.getElementById("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = new URLSearchParams([...new FormData(e.target)].filter(([, v]) => v));
    location.hash = "#/?" + chosen.toString();
  });
  const row = (o) => `<tr id="row-${esc(o.id)}"><td><a href="#/orders/${esc(o.id)}">${esc(o.dossier_code)}</a></td><td>${esc(t(o.kind))}</td>
    <td>${esc(COURIERS[o.courier])}</td><td>${badge(o.status)}</td><td class="hide-narrow">${esc(o.tracking_code || "—")}</td><td class="hide-narrow">${when(o.created_at)}</td></tr>`;
  const load = async () => {
    const list = await api("GET", "/v1/orders?limit=50&" + q.toString());
    document.getElementById("rows").innerHTML = list.orders.map(row).join("") || `<tr><td colspan="6">${t("none")}</td></tr>`;
  };
  await load();
  follow(async (change) => {
    const existing = document.getElementById("row-" + change.id);
    if (!existing) { await load(); return; }
    const order = await api("GET", "/v1/orders/" + encodeURIComponent(change.id));
    existing.outerHTML = row(order);
    document.getElementById("row-" + change.id).classList.add("flash");
  });
}

// -- the order form -----------------------------------------------------------------------------------
function field(name, label, attrs = "", type = "text") {
  const id = "o-" + name.replace(/\W/g, "-");
  return `<div><label for="${id}">${label}</label><input id="${id}" name="${name}" data-field="${name}" type="${type}" ${attrs} aria-describedby="${id}-error"><p class="field-error" id="${id}-error" aria-live="polite"></p></div>`;
}
function docRow(n) {
  return `<div class="grid doc" data-doc="${n}">${field(`documents.${n}.name`, t("doc_name"), 'required maxlength="200"')}
  <div><label><input type="checkbox" name="documents.${n}.original"> ${t("original")}</label></div>
  ${field(`documents.${n}.count`, t("count"), 'min="1" max="100" value="1" required', "number")}</div>`;
}
async function newOrder() {
  const provinces = (await api("GET", "/v1/units/provinces")).units;
  view.innerHTML = `<h1>${t("new.title")}</h1><form id="order" novalidate>
  <fieldset><legend>${t("new.kind")}</legend><div class="row" role="radiogroup">
   ${["delivery", "pickup", "round_trip"].map((k, i) => `<label><input type="radio" name="kind" value="${k}" ${i === 0 ? "checked" : ""}> ${t(k)}</label>`).join("")}</div>
   <div class="grid">${field("dossier_code", t("dossier"), 'required maxlength="64"')}${field("procedure_code", t("procedure_code"), 'required maxlength="64"')}
   ${field("procedure_name", t("procedure_name"), 'maxlength="300"')}${field("appointment_date", t("appointment_date"), "", "date")}</div></fieldset>
  <fieldset><legend>${t("citizen")}</legend><div class="grid">${field("citizen.name", t("name"), 'required maxlength="200" autocomplete="off"')}
   ${field("citizen.phone", t("phone"), 'required inputmode="tel" pattern="\\+?[0-9 .\\(\\)\\-]{8,20}"', "tel")}
   ${field("citizen.email", t("email"), "", "email")}${field("citizen.id_number", t("id_number"), 'pattern="^([0-9]{9}|[0-9]{12}|[A-Z][0-9]{7,8})$" autocomplete="off"')}</div></fieldset>
  <fieldset><legend>${t("address")}</legend><div class="grid">
   <div><label for="o-province">${t("province")}</label><select id="o-province" name="address.province_code" data-field="address.province_code" required aria-describedby="o-province-error">
     <option value="">${t("choose")}</option>${provinces.map((p) => `<option value="${p.code}">${esc(p.name)}</option>`).join("")}</select><p class="field-error" id="o-province-error"></p></div>
   <div><label for="o-ward">${t("ward")}</label><select id="o-ward" name="address.ward_code" data-field="address.ward_code" required disabled aria-describedby="o-ward-error"><option value="">${t("choose")}</option></select><p class="field-error" id="o-ward-error"></p></div>
   ${field("address.street", t("street"), 'required maxlength="200"')}</div></fieldset>
  <fieldset><legend>${t("documents")}</legend><div id="docs">${docRow(0)}</div><button type="button" class="secondary" id="add-doc">${t("add_doc")}</button></fieldset>
  <fieldset><legend>${t("payment")}</legend><div class="grid">${field("payment.agency_fee", t("agency_fee"), 'min="0" value="0"', "number")}
   <div><label for="o-payer">${t("postage_payer")}</label><select id="o-payer" name="payment.postage_payer"><option value="citizen">${t("payer_citizen")}</option><option value="centre">${t("payer_centre")}</option></select></div>
   <div><label for="o-courier">${t("courier")}</label><select id="o-courier" name="courier" data-field="courier"><option value="">${t("courier_default")}</option>${Object.entries(COURIERS).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("")}</select></div></div></fieldset>
  <p id="form-status" role="status" aria-live="polite"></p><button type="submit" id="submit">${t("create")}</button></form>`;
  const form = document.getElementById("order");
  let docs = 1;
  document.getElementById("add-doc").addEventListener("click", () => { document.getElementById("docs").insertAdjacentHTML("beforeend", docRow(docs++)); });
  document.getElementById("o-province").addEventListener("change", async (e) => {
    const ward = document.getElementById("o-ward");
    ward.disabled = true;
    ward.innerHTML = `<option value="">${t("choose")}</option>`;
    if (!e.target.value) return;
    const wards = (await api("GET", `/v1/units/provinces/${e.target.value}/wards`)).units;
    ward.innerHTML += wards.map((w) => `<option value="${w.code}">${esc(w.name)}</option>`).join("");
    ward.disabled = false;
  });
  form.addEventListener("input", (e) => { if (e.target.dataset.field) markField(e.target, e.target.validity.valid ? "" : e.target.validationMessage); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    let valid = true;
    form.querySelectorAll("[data-field]").forEach((input) => { if (!input.checkValidity()) { markField(input, input.validationMessage); valid = false; } });
    const status = document.getElementById("form-status");
    if (!valid) { status.textContent = t("fix"); status.className = "error"; form.querySelector('[aria-invalid="true"]').focus(); return; }
    const button = document.getElementById("submit");
    button.disabled = true;
    try {
      const created = await api("POST", "/v1/orders", orderBody(form), { "Idempotency-Key": crypto.randomUUID() });
      status.textContent = t("created_ok"); status.className = "ok";
      location.hash = "#/orders/" + created.id;
    } catch (error) {
      status.textContent = error.message; status.className = "error";
      for (const param of (error.problem && error.problem.invalid_params) || []) {
        const input = form.querySelector(`[data-field="${CSS.escape(param.name)}"]`);
        if (input) markField(input, param.reason);
      }
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
    } finally { button.disabled = false; }
  });
}
function markField(input, message) {
  input.setAttribute("aria-invalid", message ? "true" : "false");
  const note = document.getElementById(input.getAttribute("aria-describedby"));
  if (note) note.textContent = message;
}
function clearErrors(form) { form.querySelectorAll("[data-field]").forEach((input) => markField(input, "")); }
function orderBody(form) {
  const data = new FormData(form);
  const value = (name) => (data.get(name) || "").toString().trim();
  const body = { kind: value("kind"), dossier_code: value("dossier_code"), procedure_code: value("procedure_code"),
    citizen: { name: value("citizen.name"), phone: value("citizen.phone") },
    address: { province_code: value("address.province_code"), ward_code: value("address.ward_code"), street: value("address.street") },
    documents: [...form.querySelectorAll(".doc")].map((row) => { const n = row.dataset.doc; return { name: value(`documents.${n}.name`), original: data.get(`documents.${n}.original`) === "on", count: Number(value(`documents.${n}.count`) || 1) }; }),
    payment: { agency_fee: Number(value("payment.agency_fee") || 0), postage_payer: value("payment.postage_payer") } };
  if (value("procedure_name")) body.procedure_name = value("procedure_name");
  if (value("appointment_date")) body.appointment_date = value("appointment_date");
  if (value("citizen.email")) body.citizen.email = value("citizen.email");
  if (value("citizen.id_number")) body.citizen.id_number = value("citizen.id_number");
  if (value("courier")) body.courier = value("courier");
  return body;
}

// -- one order ----------------------------------------------------------------------------------------
const ACTIONS = {
  cancel: ["accepted", "dispatch_failed", "booked", "pickup_started", "pickup_failed"],
  reroute: ["accepted", "dispatch_failed", "booked", "pickup_started", "pickup_failed"],
  redeliver: ["delivery_failed", "awaiting_instruction"],
  return: ["delivery_failed", "awaiting_instruction", "held_for_collection"],
};
async function act(order, decision, after) {
  let extra = "";
  if (decision === "reroute") {
    extra = `<label for="reroute-to">${t("courier")}</label><select id="reroute-to">${Object.entries(COURIERS).filter(([k]) => k !== order.courier).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("")}</select>`;
  }
  const dialog = await confirmDialog(t("confirm." + decision), extra);
  if (!dialog) return;
  const status = document.getElementById("action-status");
  try {
    let path = `/v1/orders/${encodeURIComponent(order.id)}/${decision}`;
    let body;
    if (decision === "reroute") body = { courier: dialog.querySelector("#reroute-to").value };
    if (decision === "result_ready") path = `/v1/dossiers/${encodeURIComponent(order.dossier_code)}/result-ready`;
    const answer = await api("POST", path, body);
    status.textContent = t("done"); status.className = "ok";
    if (decision === "reroute" && answer && answer.id) { location.hash = "#/orders/" + answer.id; return; }
    after();
  } catch (error) { status.textContent = error.message; status.className = "error"; }
}
function actionButtons(order) {
  const allowed = Object.entries(ACTIONS).filter(([, statuses]) => statuses.includes(order.status)).map(([d]) => d);
  if (order.on_hold) allowed.push("release");
  if (order.kind === "pickup" && order.status === "delivered") allowed.push("result_ready");
  return allowed.map((d) => `<button type="button" class="${d === "cancel" ? "danger" : "secondary"}" data-action="${d}">${t(d)}</button>`).join("");
}
async function orderPage(id) {
  const [order, events] = await Promise.all([api("GET", "/v1/orders/" + encodeURIComponent(id)), api("GET", `/v1/orders/${encodeURIComponent(id)}/events`)]);
  const d = order.deadlines, m = order.money;
  const note = order.tracking_code ? `<a class="button secondary" href="/v1/orders/${esc(order.id)}/consignment-note" target="_blank" rel="noopener">${t("note_pdf")}</a>
    <a class="button secondary" href="/v1/handover-record?order_id=${esc(order.id)}&direction=${order.kind === "pickup" ? "from_courier" : "to_courier"}" target="_blank" rel="noopener">${t("handover_pdf")}</a>` : "";
  view.innerHTML = `<h1>${t("dossier")} ${esc(order.dossier_code)} ${badge(order.status)} <span id="live" class="live" hidden>${t("live")}</span></h1>
  <div class="card"><dl class="facts"><dt>${t("kind")}</dt><dd>${esc(t(order.kind))}</dd><dt>${t("courier")}</dt><dd>${esc(COURIERS[order.courier])}</dd>
   <dt>${t("tracking")}</dt><dd id="tracking">${esc(order.tracking_code || "—")}</dd><dt>${t("procedure_name")}</dt><dd>${esc(order.procedure_name || order.procedure_code)}</dd>
   <dt>${t("created")}</dt><dd>${when(order.created_at)}</dd>${order.dispatch_error ? `<dt>${t("error")}</dt><dd class="error">${esc(order.dispatch_error)}</dd>` : ""}</dl></div>
  <div class="row no-print">${note}</div>
  <h2>${t("actions")}</h2><div class="row no-print" id="actions">${actionButtons(order) || `<span class="muted">—</span>`}</div><p id="action-status" role="status" aria-live="polite"></p>
  <div class="grid"><section class="card"><h2>${t("deadlines")}</h2><dl class="facts"><dt>${t("due_date")}</dt><dd>${day(d.due_date)}</dd>
   <dt>${t("failed_attempts")}</dt><dd>${d.failed_attempts}</dd><dt>${t("next_attempt_due")}</dt><dd>${day(d.next_attempt_due)}</dd><dt>${t("return_due")}</dt><dd>${day(d.return_due)}</dd></dl></section>
   <section class="card"><h2>${t("money")}</h2><dl class="facts"><dt>${t("quoted_fee")}</dt><dd>${vnd(m.quoted_fee)}</dd><dt>${t("fee")}</dt><dd>${vnd(m.fee)}</dd>
   <dt>${t("cod_expected")}</dt><dd>${vnd(m.cod_expected)}</dd><dt>${t("cod")}</dt><dd class="${m.cod_mismatch ? "error" : ""}">${vnd(m.cod)}</dd></dl></section></div>
  <h2>${t("timeline")}</h2><ol class="timeline" id="timeline">${events.events.slice().reverse().map((e) => `<li class="${e.applied ? "" : "skipped"}"><time>${when(e.event_time)}</time>
   <strong>${esc(statusLabel(e.status))}</strong> ${esc(e.raw_text || e.raw_status)}${e.location ? ` · ${esc(e.location)}` : ""}${e.applied ? "" : ` <em>(${t("not_applied")}: ${esc(e.note || "")})</em>`}</li>`).join("")}</ol>`;
  document.getElementById("actions").addEventListener("click", (e) => { const b = e.target.closest("[data-action]"); if (b) act(order, b.dataset.action, () => orderPage(id)); });
  follow((change) => { if (change.id === id) orderPage(id); });
}

// -- exceptions, couriers ------------------------------------------------------------------------------
async function exceptions() {
  const queue = await api("GET", "/v1/exceptions");
  view.innerHTML = `<h1>${t("exceptions")}</h1><p id="action-status" role="status" aria-live="polite"></p><div id="queue">` + (queue.exceptions.map((item) => `<div class="card">
    <h2><a href="#/orders/${esc(item.order_id)}">${esc(item.dossier_code)}</a> ${badge(item.status)}</h2>
    <ul>${(lang === "vi" ? item.reasons_vi : item.reasons).map((r) => `<li>${esc(r)}</li>`).join("")}</ul>
    <div class="row">${item.actions.map((dn) => `<button type="button" class="secondary" data-order="${esc(item.order_id)}" data-action="${esc(dn)}">${t(dn)}</button>`).join("")}</div></div>`).join("") || `<p>${t("no_exceptions")}</p>`) + "</div>";
  document.getElementById("queue").addEventListener("click", async (e) => {
    const b = e.target.closest("[data-action]");
    if (!b) return;
    const order = await api("GET", "/v1/orders/" + encodeURIComponent(b.dataset.order));
    act(order, b.dataset.action, exceptions);
  });
}
async function couriers() {
  const health = await api("GET", "/v1/couriers");
  view.innerHTML = `<h1>${t("nav.couriers")}</h1><div class="table-wrap"><table><thead><tr><th scope="col">${t("courier")}</th><th scope="col">${t("circuit")}</th>
  <th scope="col">${t("retry_at")}</th><th scope="col">${t("queue")}</th><th scope="col">${t("last_callback")}</th><th scope="col">${t("rejected")}</th></tr></thead><tbody>
  ${health.couriers.map((c) => `<tr><td>${esc(COURIERS[c.courier] || c.courier)}</td><td>${esc(t(c.state))}</td><td>${when(c.retry_at)}</td>
   <td>${health.callback_backlog[c.courier] ?? 0} callback · ${health.queues.dispatch ?? 0} dispatch</td><td>${when(health.last_callback[c.courier])}</td><td>${health.rejected_callbacks[c.courier] ?? 0}</td></tr>`).join("")}</tbody></table></div>`;
}

// -- reports, statements, handover ---------------------------------------------------------------------
async function reports(params) {
  const asked = new URLSearchParams(params).get("month") || "";
  const month = /^\d{4}-(0[1-9]|1[0-2])$/.test(asked) ? asked : new Date(Date.now() + 7 * 3600e3).toISOString().slice(0, 7);
  const base = `/v1/reports/monthly?month=${month}&lang=${lang}`;
  view.innerHTML = `<h1>${t("nav.reports")}</h1><form id="pick" class="row no-print"><label for="r-month">${t("month")}</label><input id="r-month" type="month" name="month" value="${month}" required class="auto">
   <button type="submit">${t("show")}</button><a class="button secondary" href="${base}&format=csv">CSV</a><a class="button secondary" href="${base}&format=xlsx">XLSX</a>
   <button type="button" class="secondary" id="print">${t("print")}</button></form>
   <iframe class="report" id="report" title="${t("nav.reports")} ${month}" src="${base}&format=html"></iframe>`;
  document.getElementById("pick").addEventListener("submit", (e) => { e.preventDefault(); location.hash = "#/reports?month=" + document.getElementById("r-month").value; });
  document.getElementById("print").addEventListener("click", () => document.getElementById("report").contentWindow.print());
}
async function statements() {
  const list = (await api("GET", "/v1/statements")).statements;
  view.innerHTML = `<h1>${t("statements")}</h1><form id="upload" class="card grid">
   <div><label for="s-courier">${t("courier")}</label><select id="s-courier" name="courier" required>${Object.entries(COURIERS).map(([k, v]) => `<option value="${k}">${esc(v)}</option>`).join("")}</select></div>
   <div><label for="s-file">${t("file")}</label><input id="s-file" type="file" name="file" accept=".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required></div>
   <div><label for="s-from">${t("period_start")}</label><input id="s-from" type="date" name="period_start"></div>
   <div><label for="s-to">${t("period_end")}</label><input id="s-to" type="date" name="period_end"></div>
   <div class="row"><button type="submit">${t("import")}</button></div></form><p id="s-status" role="status" aria-live="polite"></p><div id="result"></div>
   <h2>${t("statements")}</h2><div class="table-wrap"><table><thead><tr><th scope="col">${t("created")}</th><th scope="col">${t("courier")}</th><th scope="col">${t("file")}</th><th scope="col">${t("lines")}</th><th scope="col">${t("mismatches")}</th><th scope="col"></th></tr></thead>
   <tbody>${list.map((s) => `<tr><td>${when(s.imported_at)}</td><td>${esc(COURIERS[s.courier])}</td><td>${esc(s.filename)}</td><td>${s.summary.lines}</td><td>${Object.values(s.summary.mismatches).reduce((a, b) => a + b, 0)}</td>
   <td><a href="/v1/statements/${esc(s.id)}?format=xlsx">XLSX</a> · <a href="/v1/statements/${esc(s.id)}?format=csv">CSV</a></td></tr>`).join("")}</tbody></table></div>`;
  document.getElementById("upload").addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(e.target), file = data.get("file"), status = document.getElementById("s-status");
    const q = new URLSearchParams({ courier: data.get("courier"), filename: file.name });
    if (data.get("period_start") && data.get("period_end")) { q.set("period_start", data.get("period_start")); q.set("period_end", data.get("period_end")); }
    try {
      const s = await api("POST", "/v1/statements?" + q, await file.arrayBuffer(), { "Content-Type": "application/octet-stream" });
      status.textContent = `${t("lines")}: ${s.summary.lines} · ${t("matched")}: ${s.summary.matched}`; status.className = "ok";
      document.getElementById("result").innerHTML = `<div class="table-wrap"><table><thead><tr><th scope="col">${t("problem")}</th><th scope="col">${t("row")}</th><th scope="col">${t("tracking")}</th><th scope="col">${t("statement_amount")}</th><th scope="col">${t("ours")}</th></tr></thead>
       <tbody>${s.mismatches.map((mm) => `<tr><td>${esc(mm.problem)}</td><td>${mm.row ?? "—"}</td><td>${esc(mm.tracking_code || "")}</td><td>${vnd(mm.statement)}</td><td>${vnd(mm.ours)}</td></tr>`).join("")}</tbody></table></div>`;
    } catch (error) { status.textContent = error.message; status.className = "error"; }
  });
}
async function handover(params) {
  const q = new URLSearchParams(params);
  const courier = q.get("courier") in COURIERS ? q.get("courier") : "ghn";
  const direction = q.get("direction") === "from_courier" ? "from_courier" : "to_courier";
  const list = (await api("GET", `/v1/orders?limit=100&courier=${courier}&kind=${direction === "to_courier" ? "delivery" : "pickup"}`)).orders.filter((o) => o.tracking_code);
  view.innerHTML = `<h1>${t("handover")}</h1><form id="hand" class="grid no-print"><div><label for="h-courier">${t("courier")}</label><select id="h-courier" name="courier">${Object.entries(COURIERS).map(([k, v]) => `<option value="${k}" ${k === courier ? "selected" : ""}>${esc(v)}</option>`).join("")}</select></div>
   <div><label for="h-direction">${t("direction")}</label><select id="h-direction" name="direction"><option value="to_courier">${t("to_courier")}</option><option value="from_courier" ${direction === "from_courier" ? "selected" : ""}>${t("from_courier")}</option></select></div>
   <div class="row"><button type="submit">${t("show")}</button></div></form>
   <form id="pickorders" target="_blank" action="/v1/handover-record" method="get"><input type="hidden" name="direction" value="${direction}">
   <div class="table-wrap"><table><thead><tr><th scope="col">${t("select")}</th><th scope="col">${t("tracking")}</th><th scope="col">${t("dossier")}</th><th scope="col">${t("status")}</th></tr></thead><tbody>
   ${list.map((o) => `<tr><td><input type="checkbox" name="order_id" value="${esc(o.id)}" aria-label="${esc(o.tracking_code)}" checked></td><td>${esc(o.tracking_code)}</td><td>${esc(o.dossier_code)}</td><td>${badge(o.status)}</td></tr>`).join("") || `<tr><td colspan="4">${t("none")}</td></tr>`}
   </tbody></table></div><div class="row"><button type="submit" ${list.length ? "" : "disabled"}>${t("make_record")}</button></div></form>`;
  document.getElementById("hand").addEventListener("submit", (e) => { e.preventDefault(); location.hash = "#/handover?" + new URLSearchParams(new FormData(e.target)); });
}

// -- routing ------------------------------------------------------------------------------------------
async function route() {
  if (stream) { stream.close(); stream = null; }
  const [path, params = ""] = location.hash.slice(1).split("?");
  document.querySelectorAll(".bar nav a").forEach((a) => { const target = a.getAttribute("href").slice(1); a.toggleAttribute("aria-current", target === (path || "/")); if (target === (path || "/")) a.setAttribute("aria-current", "page"); });
  view.innerHTML = `<p>${t("loading")}</p>`;
  try {
    if (path.startsWith("/orders/")) await orderPage(decodeURIComponent(path.slice(8)));
    else if (path === "/new") await newOrder();
    else if (path === "/exceptions") await exceptions();
    else if (path === "/couriers") await couriers();
    else if (path === "/reports") await reports(params);
    else if (path === "/statements") await statements();
    else if (path === "/handover") await handover(params);
    else await board(params);
  } catch (error) { view.innerHTML = `<p class="error" role="alert">${esc(error.message)}</p>`; }
  view.focus();
}
document.getElementById("lang").addEventListener("click", () => { lang = lang === "vi" ? "en" : "vi"; localStorage.setItem("dd-lang", lang); applyLanguage(); route(); });
window.addEventListener("hashchange", route);
applyLanguage();
route();
