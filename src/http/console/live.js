// Annal console: live updates. Served from the binary at /console/static/live.js and loaded
// by every page (the content security policy allows this file and no inline script). A page
// with a live hook (an element #live with data-live-src) opens that Server-Sent Events stream:
// the overview's counters, or a device's new history rows and its pending queue. Without this
// script every page is complete; with it, nothing needs a reload.
//
// The server sends JSON. Every value, many of them written by devices, goes into the page
// with textContent or setAttribute: never as markup.
(function () {
  'use strict';

  var hook = document.getElementById('live');
  if (!hook || typeof window.EventSource !== 'function') {
    return;
  }
  var src = hook.getAttribute('data-live-src');
  if (!src) {
    return;
  }

  function say(text) {
    hook.textContent = text;
    hook.hidden = false;
  }

  // An element with optional class and text.
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  // A time as the server renders it: RFC 3339 to the second, in UTC.
  function time(value) {
    return value ? String(value).replace(/\.\d+Z$/, 'Z') : '';
  }

  function parse(event) {
    try {
      return JSON.parse(event.data);
    } catch (e) {
      return null;
    }
  }

  // --- The overview: counters by name.
  function counters(data) {
    Object.keys(data).forEach(function (name) {
      var value = data[name];
      document.querySelectorAll('[data-counter="' + name + '"]').forEach(function (node) {
        var text = value === null || value === undefined ? '?' : String(value);
        if (node.textContent !== text) {
          node.textContent = text;
          node.classList.add('changed');
        }
      });
    });
  }

  // --- A device's history: one row per event, the cells the server renders.
  var missed = 0;

  function details(summary, text, cut) {
    var box = el('details');
    box.appendChild(el('summary', null, summary));
    box.appendChild(el('pre', null, text));
    if (cut) {
      box.appendChild(el('p', 'hint', 'Cut here; the API has it whole.'));
    }
    return box;
  }

  function historyRow(row) {
    var table = document.getElementById('history-table');
    if (!table) {
      return;
    }
    var body = table.tBodies[0];
    if (body.querySelector('tr[data-position="' + Number(row.position) + '"]')) {
      return; // Already on the page (appended while it was being read).
    }
    if (table.getAttribute('data-live-append') !== 'yes') {
      missed += 1;
      say('Live: ' + missed + ' new event(s) since this page was read; see the latest page.');
      return;
    }
    var tr = el('tr', 'new');
    tr.setAttribute('data-position', String(row.position));
    tr.appendChild(el('td', 'num', row.position));
    tr.appendChild(el('td', 'time', time(row.recorded_at)));
    var type = el('td', null, row.event_type + ' ');
    type.appendChild(el('span', 'hint', 'v' + row.version));
    tr.appendChild(type);
    var actor = el('td', 'actor', row.actor);
    actor.title = row.actor;
    tr.appendChild(actor);
    var cell = el('td');
    cell.appendChild(details('Data', row.data, row.data_cut));
    if (row.raw_note) {
      cell.appendChild(el('p', 'hint', row.raw_note));
    } else if (row.raw !== null && row.raw !== undefined) {
      cell.appendChild(details('Raw plist', row.raw, row.raw_cut));
    }
    tr.appendChild(cell);
    body.appendChild(tr);
    say('Live: ' + row.event_type + ' recorded at position ' + row.position + '.');
  }

  // --- A device's pending queue: rows kept by command, so a cancel reason being typed stays.
  function csrfToken() {
    var field = document.querySelector('form.signout input[name="csrf"]');
    return field ? field.value : '';
  }

  function cancelCell(table, command) {
    var id = 'cancel-reason-' + encodeURIComponent(command.command_uuid);
    var form = el('form', 'inline');
    form.method = 'post';
    form.action = table.getAttribute('data-cancel-action') + encodeURIComponent(command.command_uuid) + '/cancel';
    var token = el('input');
    token.type = 'hidden';
    token.name = 'csrf';
    token.value = csrfToken();
    form.appendChild(token);
    var label = el('label', null, 'Why');
    label.htmlFor = id;
    form.appendChild(label);
    form.appendChild(document.createTextNode(' '));
    var reason = el('input');
    reason.id = id;
    reason.name = 'reason';
    reason.type = 'text';
    reason.maxLength = 1000;
    form.appendChild(reason);
    form.appendChild(document.createTextNode(' '));
    var button = el('button', 'secondary', 'Cancel ' + command.request_type);
    button.type = 'submit';
    form.appendChild(button);
    var td = el('td');
    td.appendChild(form);
    return td;
  }

  function queueRow(table, command) {
    var tr = el('tr', 'new');
    tr.setAttribute('data-command', command.command_uuid);
    var what = el('td', null, command.request_type + ' ');
    what.appendChild(el('span', 'mono hint', command.command_uuid));
    tr.appendChild(what);
    tr.appendChild(el('td', null, time(command.queued_at)));
    tr.appendChild(el('td', null, command.requester));
    tr.appendChild(el('td', null, command.reason));
    tr.appendChild(el('td', null, command.status));
    tr.appendChild(el('td', 'num', command.deliveries));
    if (table.getAttribute('data-may-cancel') === 'yes') {
      tr.appendChild(cancelCell(table, command));
    }
    return tr;
  }

  function queue(commands) {
    var table = document.getElementById('queue-table');
    if (!table || !Array.isArray(commands)) {
      return;
    }
    var body = table.tBodies[0];
    var keep = {};
    commands.forEach(function (command) {
      keep[command.command_uuid] = true;
    });
    Array.prototype.slice.call(body.rows).forEach(function (tr) {
      if (!keep[tr.getAttribute('data-command')]) {
        body.removeChild(tr);
      }
    });
    commands.forEach(function (command) {
      var existing = null;
      Array.prototype.forEach.call(body.rows, function (tr) {
        if (tr.getAttribute('data-command') === command.command_uuid) {
          existing = tr;
        }
      });
      if (existing) {
        // Status and deliveries change; the rest (and any reason being typed) stays.
        existing.cells[4].textContent = command.status;
        existing.cells[5].textContent = String(command.deliveries);
      } else {
        body.appendChild(queueRow(table, command));
      }
    });
    table.hidden = commands.length === 0;
    var empty = document.getElementById('queue-empty');
    if (empty) {
      empty.hidden = commands.length !== 0;
    }
  }

  // --- The stream.
  var ENDED = {
    session: 'Live updates stopped: the session ended. Sign in again to continue.',
    stopping: 'Live updates stopped: the server is stopping. Reload the page later.',
    error: 'Live updates stopped: the log could not be read. Reload the page.'
  };
  var source = new EventSource(src);
  source.onopen = function () {
    say('Live: this page updates as events arrive.');
  };
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) {
      say('Live updates stopped. Reload the page to see what changed.');
    } else {
      say('Live updates interrupted; reconnecting…');
    }
  };
  source.addEventListener('counters', function (event) {
    var data = parse(event);
    if (data) {
      counters(data);
    }
  });
  source.addEventListener('history', function (event) {
    var data = parse(event);
    if (data) {
      historyRow(data);
    }
  });
  source.addEventListener('queue', function (event) {
    var data = parse(event);
    if (data) {
      queue(data);
    }
  });
  source.addEventListener('gap', function () {
    say('Live: some events were missed while this page was open; reload it to see them all.');
  });
  source.addEventListener('failure', function (event) {
    say('Live updates failed: ' + event.data);
  });
  source.addEventListener('end', function (event) {
    source.close();
    say(ENDED[event.data] || ENDED.error);
  });
})();
