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
  };
  let call = null;        // the server's view of the call in progress
  let promptStart = 0;    // when the waiting prompt began, for barge-in
  let firstKeyAt = null;  // seconds into the prompt of this entry's first key
  let timer = null;
  let played = 0;         // events already spoken or played

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function showBanner(text) {
    $("banner").textContent = text;
    $("banner").hidden = !text;
  }

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
      case "redirect": return event.url;
      case "gather": return event.action;
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
      item.className = event.kind;
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

  function renderNow(prompt) {
    $("now").replaceChildren(...prompt.map((event) => {
      const line = document.createElement("p");
      line.textContent = event.text || event.url || "";
      if (event.language) line.lang = event.language.startsWith("cmn") ? "zh" : "en";
      if (event.cut) line.className = "cut";
      return line;
    }));
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
      const lang = event.language && event.language.startsWith("cmn") ? "zh" : "en";
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

  function render(data) {
    const events = data.events;
    const errors = events.filter((e) => e.kind === "error");
    showBanner(errors.length ? `Twilio 错误 error ${errors[0].code}: ${errors[0].message}` : "");
    renderTimeline(events);
    const prompt = currentPrompt(events);
    renderNow(prompt);
    $("typed").textContent = data.typed || "";
    $("clock").textContent = `${data.clock.toFixed(1)} s`;
    const freshPrompt = !call || !data.typed && (data.events.length !== call.events.length || data.ended);
    call = data;
    clearTimeout(timer);
    if (data.ended) {
      $("status").textContent = `通话已结束 Call ended (${data.status})`;
      setInCall(false);
      call = null;
      return;
    }
    setInCall(true);
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
      // Twilio's timer: from the end of the prompt, then again after each key.
      const seconds = data.typed ? data.expects.timeout : data.expects.prompt_seconds + data.expects.timeout;
      timer = setTimeout(wait, Math.max(seconds, 0) * 1000);
    }
  }

  // Requests go one at a time, in the order the keys were pressed.
  let chain = Promise.resolve();
  function run(action) {
    chain = chain.then(async () => {
      try {
        render(await action());
      } catch (error) {
        showBanner(`${error.message}`);
        if (/no such call/.test(error.message)) { call = null; setInCall(false); }
      }
    });
    return chain;
  }

  function dial(event) {
    event.preventDefault();
    played = 0;
    call = null;
    const url = $("url") ? $("url").value.trim() : "";
    $("status").textContent = "正在拨号 Dialling…";
    run(() => api("/dialer/api/calls", { to: $("number").value, url })).then(() => {
      // In a call the keyboard dials: take focus off the number field, onto the keypad.
      if (call) document.querySelector('.key[data-key="1"]').focus();
    });
  }

  function press(key) {
    if (!call || !KEYS.includes(key)) return;
    const at = (performance.now() - promptStart) / 1000;
    if (firstKeyAt === null) firstKeyAt = at;
    stopSound();  // a key cuts the prompt, as on a real line
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
    const id = call.id;
    run(() => api(`/dialer/api/calls/${id}/hangup`));
  }

  $("dial").addEventListener("submit", dial);
  $("hangup").addEventListener("click", hangup);
  $("wait").addEventListener("click", () => { clearTimeout(timer); wait(); });
  document.querySelectorAll(".key").forEach((button) => {
    button.addEventListener("click", () => press(button.dataset.key));
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (KEYS.includes(event.key)) { event.preventDefault(); press(event.key); }
    else if (event.key === "Escape") { hangup(); }
  });
})();
