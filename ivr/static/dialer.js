// The 12333 web dialer. The server runs the call (the softphone's engine); this page only
// shows what is said, plays it, and sends the keys with the moment they were pressed.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const KEYS = "0123456789*#";
  const KINDS = {
    dial: "拨号 Dial", gather: "等待 Listen", say: "播报 Says", play: "放音 Plays",
    keys: "按键 Keys", lost_keys: "丢键 Lost", silence: "静默 Silence", pause: "停顿 Pause",
    redirect: "跳转 Redirect", transfer: "转接 Transfer", hangup: "挂机 Hang-up",
    error: "错误 Error", warning: "警告 Warning", record: "录音 Record", reject: "拒接 Reject",
    status_callback: "回调 Callback",
  };
  // The keys a menu offers, in the words the line says them: "…请按1", "For …, press 1", and the
  // short English items after the first ("Payment records, 2."), a key alone after a comma.
  const OFFERS = [
    /请按\s*([0-9]|星号|井号)/g,
    /\bpress\s+([0-9]|star|hash|pound)\b/gi,
    /,\s+([0-9]|star|hash|pound)(?=\s*(?:[.;。；]|$))/gi,
  ];
  const NAMED = { 星号: "*", 井号: "#", star: "*", hash: "#", pound: "#" };

  let call = null;        // the server's view of the call in progress
  let promptStart = 0;    // when the waiting prompt began, for barge-in
  let firstKeyAt = null;  // seconds into the prompt of this entry's first key
  let timer = null;       // the Gather's timeout
  let ticker = null;      // the countdown's display
  let deadline = 0;       // when the timeout runs out (performance.now() ms)
  let played = 0;         // events already spoken or played
  let announced = 0;      // events already handed to the screen reader
  let failed = [];        // requests the server never answered, to send again on retry

  class LostServer extends Error {}

  async function api(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
      });
    } catch (error) {
      throw new LostServer(String(error));
    }
    const data = await response.json().catch(() => null);
    if (data === null) throw new LostServer(`HTTP ${response.status}`);  // not our server speaking
    if (!response.ok) throw Object.assign(new Error(data.error || `HTTP ${response.status}`), { status: response.status });
    return data;
  }

  function showBanner(text) {
    $("banner").textContent = text;
    $("banner").hidden = !text;
  }

  // The call's state rides sealed in the action URL (?s=…), a long opaque token: the timeline
  // shows only where the call goes next.
  const unsealed = (url) => (url || "").replace(/([?&]s=)[^&#]+/, "$1…");

  function describe(event) {
    switch (event.kind) {
      case "dial": return `${event.url} (To ${event.to})`;
      case "say": return event.text + (event.cut ? "  ✂" : "");
      case "play": return (event.text || event.url || `tones ${event.digits}`) + (event.cut ? "  ✂" : "");
      case "keys": case "lost_keys": return event.keys;
      case "silence": case "pause": return `${event.duration} s`;
      case "transfer": return event.to;
      case "error": case "warning": return `${event.code}: ${event.message}`;
      case "hangup": return event.by;
      case "redirect": return unsealed(event.url);
      case "gather": return unsealed(event.action);
      case "status_callback": return `${event.status} (${event.duration} s)`;
      default: return JSON.stringify(event);
    }
  }

  function currentPrompt(events) {
    let start = 0;
    events.forEach((event, index) => { if (event.kind === "gather") start = index; });
    return events.slice(start).filter((e) => e.kind === "say" || e.kind === "play");
  }

  function renderTimeline(events) {
    const list = $("timeline");
    list.replaceChildren(...events.map((event) => {
      const item = document.createElement("li");
      item.className = `ev-${event.kind}` + (event.alert ? " alerted" : "");
      for (const [name, text] of [["t", `${event.t.toFixed(1)} s`], ["kind", KINDS[event.kind] || event.kind], ["what", describe(event)]]) {
        const cell = document.createElement("span");
        cell.className = name;
        cell.textContent = text;
        item.append(cell);
      }
      return item;
    }));
    list.scrollTop = list.scrollHeight;
  }

  function langOf(event) {
    return event.language && event.language.startsWith("cmn") ? "zh" : "en";
  }

  function renderNow(prompt) {
    $("now").replaceChildren(...prompt.map((event) => {
      const line = document.createElement("p");
      line.textContent = event.text || event.url || "";
      if (event.language) line.lang = langOf(event);
      if (event.cut) line.className = "cut";
      return line;
    }));
    // A wrong PIN, a refused number: shown as well as spoken, so nobody misses it.
    const alerts = prompt.filter((event) => event.alert);
    $("alert").textContent = alerts.map((event) => event.text).join(" ");
    $("alert").hidden = !alerts.length;
  }

  // Only what is new is read out: a prompt once, never again on every key.
  function announce(events) {
    const fresh = events.slice(announced).filter((e) => (e.kind === "say" || e.kind === "play") && e.text);
    announced = events.length;
    if (fresh.length) $("announce").textContent = fresh.map((e) => e.text).join(" ");
  }

  function offered(prompt) {
    const keys = new Set();
    for (const event of prompt) {
      for (const pattern of OFFERS) {
        for (const match of (event.text || "").matchAll(pattern)) keys.add(NAMED[match[1].toLowerCase()] || NAMED[match[1]] || match[1]);
      }
    }
    return [...KEYS].filter((key) => keys.has(key));
  }

  function renderValid(expects, prompt) {
    const menu = expects && expects.num_digits === 1 ? offered(prompt) : [];
    document.querySelectorAll(".key").forEach((button) => {
      button.classList.toggle("valid", menu.includes(button.dataset.key));
    });
    document.querySelector(".keypad").classList.toggle("menu", menu.length > 0);
    let text = "";
    if (menu.length) text = `可按 Keys: ${menu.join(" ")}`;
    else if (expects && expects.finish_on_key) text = `输入后按 ${expects.finish_on_key} 结束 · End with ${expects.finish_on_key}`;
    $("valid").textContent = text;
  }

  // Sound: the prompt files in play mode, the browser's voices (if any) in say mode.
  const queue = [];
  function stopSound() {
    queue.length = 0;
    $("player").pause();
    if (window.speechSynthesis) window.speechSynthesis.cancel();
  }
  function playNext() {
    const event = queue.shift();
    if (!event) return;
    if (event.kind === "play" && event.url) {
      const player = $("player");
      player.src = event.url;
      player.onended = playNext;
      player.play().catch(playNext);
    } else if (event.kind === "say" && window.speechSynthesis) {
      const lang = langOf(event);
      const voice = window.speechSynthesis.getVoices().find((v) => v.lang.toLowerCase().startsWith(lang));
      if (!voice) return playNext();  // no voice for this language: text only
      const utterance = new SpeechSynthesisUtterance(event.text);
      utterance.voice = voice;
      utterance.onend = playNext;
      window.speechSynthesis.speak(utterance);
    } else {
      playNext();
    }
  }

  function setInCall(inCall) {
    document.querySelectorAll(".key").forEach((key) => { key.disabled = !inCall; });
    $("wait").disabled = !inCall;
    $("hangup").disabled = !inCall;
    $("call").disabled = inCall;
  }

  // The Gather's timeout, shown as it runs: Twilio's timer starts when the prompt ends
  // and starts again after each key.
  function stopCountdown() {
    clearTimeout(timer);
    clearInterval(ticker);
    $("countdown").textContent = "";
    $("countdown").classList.remove("soon");
  }
  function startCountdown(seconds) {
    stopCountdown();
    deadline = performance.now() + Math.max(seconds, 0) * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
      $("countdown").textContent = `${left} 秒后超时 · timeout in ${left} s`;
      $("countdown").classList.toggle("soon", left <= 3);
    };
    tick();
    ticker = setInterval(tick, 250);
    timer = setTimeout(() => { stopCountdown(); wait(); }, Math.max(seconds, 0) * 1000);
  }

  function render(data) {
    const events = data.events;
    const errors = events.filter((e) => e.kind === "error");
    showBanner(errors.length ? `Twilio 错误 error ${errors[0].code}: ${errors[0].message}` : "");
    renderTimeline(events);
    const prompt = currentPrompt(events);
    renderNow(prompt);
    announce(events);
    $("typed").textContent = data.typed || "";
    $("clock").textContent = `${data.clock.toFixed(1)} s`;
    const freshPrompt = !call || !data.typed && (data.events.length !== call.events.length || data.ended);
    call = data;
    stopCountdown();
    if (data.ended) {
      $("status").textContent = `通话已结束 Call ended (${data.status})`;
      renderValid(null, []);
      setInCall(false);
      call = null;
      $("call").focus();  // Enter dials again
      return;
    }
    setInCall(true);
    renderValid(data.expects, prompt);
    if (freshPrompt && data.expects) {
      promptStart = performance.now();
      firstKeyAt = null;
      stopSound();
      queue.push(...prompt.filter((event) => events.indexOf(event) >= played));
      played = events.length;
      playNext();
    }
    $("status").textContent = data.expects ? "请按键 Your turn: press keys" : "通话中 In a call";
    if (data.expects) {
      const seconds = data.typed ? data.expects.timeout : data.expects.prompt_seconds + data.expects.timeout;
      startCountdown(seconds);
    }
  }

  // Requests go one at a time, in the order the keys were pressed. If the server is lost,
  // they wait for the retry button, and nothing runs out meanwhile.
  let chain = Promise.resolve();
  function run(action) {
    chain = chain.then(async () => {
      if (failed.length) { failed.push(action); return; }
      try {
        render(await action());
        $("offline").hidden = true;
      } catch (error) {
        if (error instanceof LostServer) {
          failed.push(action);
          stopCountdown();
          $("offline").hidden = false;
          return;
        }
        showBanner(`${error.message}`);
        if (/no such call/.test(error.message)) { call = null; setInCall(false); stopCountdown(); return; }
        if (call && call.expects) {
          // Refused (over the budget, say): the server dropped what was typed; the prompt waits on.
          if (error.status === 429) { $("typed").textContent = ""; firstKeyAt = null; }
          startCountdown(call.expects.timeout);
        }
      }
    });
    return chain;
  }

  function retry() {
    const again = failed;
    failed = [];
    $("offline").hidden = true;
    again.forEach(run);
  }

  function dial(event) {
    event.preventDefault();
    played = 0;
    announced = 0;
    call = null;
    const url = $("url") ? $("url").value.trim() : "";
    $("status").textContent = "正在拨号 Dialling…";
    showBanner("");
    run(() => api("/dialer/api/calls", { to: $("number").value, url })).then(() => {
      // In a call the keyboard dials: focus leaves the number field for the call's screen,
      // where Enter presses nothing (so it cannot send a key twice).
      if (call) $("screen").focus();
    });
  }

  function press(key) {
    if (!call || !KEYS.includes(key)) return;
    const at = (performance.now() - promptStart) / 1000;
    if (firstKeyAt === null) firstKeyAt = at;
    stopSound();  // a key cuts the prompt, as on a real line
    stopCountdown();
    const button = document.querySelector(`.key[data-key="${CSS.escape(key)}"]`);
    if (button) { button.classList.add("pressed"); setTimeout(() => button.classList.remove("pressed"), 150); }
    const id = call.id;
    const at0 = firstKeyAt;
    run(() => api(`/dialer/api/calls/${id}/keys`, { keys: key, at: at0 }));
  }

  function wait() {
    if (!call) return;
    const id = call.id;
    run(() => api(`/dialer/api/calls/${id}/wait`));
  }

  function hangup() {
    if (!call) return;
    stopSound();
    stopCountdown();
    const id = call.id;
    run(() => api(`/dialer/api/calls/${id}/hangup`));
  }

  $("dial").addEventListener("submit", dial);
  $("hangup").addEventListener("click", hangup);
  $("retry").addEventListener("click", retry);
  $("wait").addEventListener("click", () => { stopCountdown(); wait(); });
  document.querySelectorAll(".key").forEach((button) => {
    // A click leaves the focus where it was: a focused key would be pressed again by Enter.
    button.addEventListener("mousedown", (event) => event.preventDefault());
    button.addEventListener("click", () => press(button.dataset.key));
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (KEYS.includes(event.key)) { event.preventDefault(); press(event.key); }
    else if (event.key === "Escape") { hangup(); }
  });
})();
