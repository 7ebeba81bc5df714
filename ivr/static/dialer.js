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
  let dialling = false;   // a call is being placed: no id yet, but Esc must still hang it up
  let generation = 0;     // bumped by each dial and hang-up: older answers are not shown

  // What the server says in English, said in both languages; the API's own words follow.
  const PROBLEMS = {
    400: "请求无效。",
    403: "不能这样拨打。",
    404: "这个通话已结束。",
    413: "请求太大。",
    429: "请求太多，请稍后再试。",
    502: "没有接通，请重试。",
    503: "线路繁忙，请先挂断一个通话或稍后再试。",
  };

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
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      throw Object.assign(new Error(data.error || `HTTP ${response.status}`), { status: response.status, retry });
    }
    return data;
  }

  function bilingual(error) {
    let zh = PROBLEMS[error.status] || "有错误。";
    if (error.status === 429 && error.retry) zh = `请求太多，请 ${error.retry} 秒后再试。`;
    return `${zh} ${error.message}`;
  }

  function showBanner(text) {
    $("banner").textContent = text;
    $("banner").hidden = !text;
  }

  // What a caller would understand: no URL of where the call goes next (the server sends
  // none), words for what happens.
  function describe(event) {
    switch (event.kind) {
      case "dial": return event.to;
      case "gather": return event.secret ? "输入密码 Your PIN (hidden)" : "等您按键 Your turn";
      case "say": return event.text + (event.cut ? "  ✂" : "");
      case "play": return (event.text || event.url || `tones ${event.digits}`) + (event.cut ? "  ✂" : "");
      case "keys": case "lost_keys": return event.keys;
      case "silence": case "pause": return `${event.duration} s`;
      case "transfer": return event.to;
      case "error": case "warning": return `${event.code}: ${event.message}`;
      case "hangup": return event.by;
      case "redirect": return "继续 Next step";
      case "status_callback": return `通话记录 Call logged: ${event.status}, ${event.duration} s`;
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

  function showAlert(text) {
    $("alert").textContent = text;
    $("alert").hidden = !text;
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
    showAlert(prompt.filter((event) => event.alert).map((event) => event.text).join(" "));
  }

  // Not in a call any more (hung up here, refused, or gone on the server): nothing on the
  // screen may still say the call waits, nor show a notice of a prompt that is over.
  function endLocally(status, keepPrompt) {
    stopSound();
    stopCountdown();
    call = null;
    dialling = false;
    $("status").textContent = status;
    if (!keepPrompt) { $("now").replaceChildren(); showAlert(""); }
    $("typed").textContent = "";
    renderValid(null, []);
    setInCall(false);
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
    dialling = false;
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
  // they wait for the retry button, and nothing runs out meanwhile. A hang-up does not
  // wait in this line (see hangup), and what comes back for a call hung up is not shown.
  let chain = Promise.resolve();
  function run(action, gen = generation) {
    chain = chain.then(async () => {
      if (gen !== generation) return;
      if (failed.length) { failed.push(action); return; }
      try {
        const data = await action();
        if (gen !== generation || !data) return;
        render(data);
        $("offline").hidden = true;
      } catch (error) {
        if (gen !== generation) return;
        if (error instanceof LostServer) {
          failed.push(action);
          stopCountdown();
          $("offline").hidden = false;
          if (dialling) endLocally("未接通 Not connected");
          else $("status").textContent = "与服务器的连接中断 Lost the server";
          return;
        }
        showBanner(bilingual(error));
        if (error.status === 404) { endLocally("通话已结束 Call ended"); return; }
        if (dialling || !call) { endLocally("未通话 Not in a call"); return; }
        if (call.expects) {
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
    again.forEach((action) => run(action));
  }

  function dial(event) {
    event.preventDefault();
    if (call || dialling) return;
    played = 0;
    announced = 0;
    call = null;
    const url = $("url") ? $("url").value.trim() : "";
    const gen = ++generation;
    failed = [];
    $("offline").hidden = true;
    endLocally("正在拨号 Dialling…");
    dialling = true;
    $("hangup").disabled = false;  // a call being placed can be hung up
    showBanner("");
    run(async () => {
      const data = await api("dialer/api/calls", { to: $("number").value, url });
      if (gen !== generation && !data.ended) {  // hung up while it was placed
        api(`dialer/api/calls/${data.id}/hangup`).catch(() => {});
      }
      return data;
    }, gen).then(() => {
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
    run(() => api(`dialer/api/calls/${id}/keys`, { keys: key, at: at0 }));
  }

  function wait() {
    if (!call) return;
    const id = call.id;
    run(() => api(`dialer/api/calls/${id}/wait`));
  }

  // At once, whatever is pending: the request goes now, not after the ones queued, and
  // their answers are not shown. A call still being placed is hung up when its id comes.
  function hangup() {
    if (!call && !dialling) return;
    const id = call && call.id;
    const gen = ++generation;
    failed = [];
    $("offline").hidden = true;
    showBanner("");
    endLocally("通话已结束 Call ended", true);
    $("call").focus();
    if (!id) return;
    api(`dialer/api/calls/${id}/hangup`)
      .then((data) => { if (gen === generation) { render(data); showAlert(""); } })
      .catch(() => {});
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
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // In a call the keyboard is the phone's, even in the number field; out of one, it types.
    if (event.target.tagName === "INPUT" && !call && !dialling) return;
    if (KEYS.includes(event.key)) { event.preventDefault(); press(event.key); }
    else if (event.key === "Escape") { hangup(); }
  });
})();
