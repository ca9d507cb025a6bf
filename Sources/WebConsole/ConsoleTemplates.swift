/// The console's pages as Mustache templates, compiled into the binary: a board with no
/// internet and no checkout serves them as they are. `{{ }}` escapes for HTML; no template
/// uses `{{{ }}}`, so nothing an operator or a controller wrote reaches a page as markup.
/// No inline script or style anywhere (the Content-Security-Policy forbids both).
enum ConsoleTemplates {
    static let all: [String: String] = [
        "header": header, "footer": footer, "login": login, "board": board, "people": people, "person": person,
        "access": access, "audit": audit, "controllers": controllers, "error": error,
    ]

    static let header = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="csrf-token" content="{{csrf}}">
    <title>{{title}} · Warden</title>
    <link rel="stylesheet" href="/console/static/console.css">
    <script src="/console/static/console.js" defer></script>
    </head><body data-page="{{page}}">
    <header class="top">
      <span class="brand">Warden</span>
      {{#signedIn}}
      <nav>
        <a href="/console" class="{{#navBoard}}on{{/navBoard}}">Live board</a>
        <a href="/console/people" class="{{#navPeople}}on{{/navPeople}}">People</a>
        <a href="/console/access" class="{{#navAccess}}on{{/navAccess}}">Access</a>
        <a href="/console/audit" class="{{#navAudit}}on{{/navAudit}}">Audit</a>
        <a href="/console/controllers" class="{{#navControllers}}on{{/navControllers}}">Controllers</a>
      </nav>
      <form method="post" action="/console/logout" class="who">
        <span>{{operator}} ({{role}})</span>
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">Sign out</button>
      </form>
      {{/signedIn}}
    </header>
    <main>
    {{#notice}}<p class="notice {{kind}}" role="status">{{text}}</p>{{/notice}}
    """

    static let footer = """
    </main>
    </body></html>
    """

    static let login = """
    {{> header}}
    <section class="card narrow">
      <h1>Sign in</h1>
      <form method="post" action="/console/login" id="login">
        <label>Operator <input name="name" autocomplete="username" required autofocus></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
        <label>Code from your authenticator app (if you set one up)
          <input name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*"></label>
        <button type="submit">Sign in</button>
      </form>
      <p class="hint">Accounts are made on the server: <code>warden server operator add NAME --role ROLE</code>, then <code>warden server operator password NAME</code>.</p>
    </section>
    {{> footer}}
    """

    static let board = """
    {{> header}}
    <section id="board" data-after="{{after}}" data-can-ack="{{canAck}}">
      <div class="bar"><h1>Doors</h1>
        <span id="live" class="live">connecting…</span>
        <button type="button" id="notify">Alarm notifications</button></div>
      <div class="doors">
      {{#doors}}
        <div class="door {{severity}}" data-controller="{{controller}}" data-door="{{door}}">
          <span class="name">{{door}}</span><span class="where">{{controller}}</span><span class="state">{{label}}</span>
        </div>
      {{/doors}}
      {{^doors}}<p class="empty">No controller has reported a door yet. Join one: Controllers → join token.</p>{{/doors}}
      </div>
    </section>
    <section>
      <h2>Open alarms</h2>
      <ul id="alarms" class="alarms">
      {{#alarms}}
        <li class="alarm" data-key="{{controller}}#{{seq}}">
          <span class="what">{{type}}</span> at <b>{{door}}</b> ({{controller}}), {{at}}
          {{#canAck}}
          <form method="post" action="/console/alarms/ack" class="ack">
            <input type="hidden" name="csrf" value="{{csrf}}">
            <input type="hidden" name="controller" value="{{controller}}"><input type="hidden" name="seq" value="{{seq}}">
            <input name="comment" placeholder="What was done (required)" required maxlength="500">
            <button type="submit">Acknowledge</button>
          </form>
          {{/canAck}}
        </li>
      {{/alarms}}
      </ul>
      {{^alarms}}<p class="empty" id="no-alarms">No open alarms.</p>{{/alarms}}
    </section>
    <section>
      <h2>Decisions and events</h2>
      <ol id="events" class="events">
      {{#events}}
        <li class="event {{result}}{{#alarm}} alarm{{/alarm}}">
          <span class="at" title="{{atUTC}} UTC">{{at}}</span> <span class="type">{{type}}</span> <b>{{door}}</b> <span class="where">{{controller}}</span>
          {{#personName}}<span class="person">{{personName}} (#{{personID}})</span>{{/personName}}
          {{#factorsText}}<span class="factors">{{factorsText}}</span>{{/factorsText}}
          {{#distance}}<span class="distance">distance {{distance}}</span>{{/distance}}
          {{#liveness}}<span class="liveness">liveness {{liveness}}</span>{{/liveness}}
          {{#reasonsText}}<span class="reasons">{{reasonsText}}</span>{{/reasonsText}}
          {{#comment}}<span class="comment">{{by}}: {{comment}}</span>{{/comment}}
        </li>
      {{/events}}
      </ol>
    </section>
    {{> footer}}
    """

    static let people = """
    {{> header}}
    <section>
      <div class="bar"><h1>People</h1>
      <form method="get" action="/console/people" class="search">
        <input name="q" value="{{query}}" placeholder="Name, external id or #id" aria-label="Search">
        <button type="submit">Search</button>
      </form></div>
      <table class="list">
        <thead><tr><th>#</th><th>Name</th><th>External id</th><th>Status</th><th>Valid</th></tr></thead>
        <tbody>
        {{#people}}
          <tr class="{{status}}"><td>{{id}}</td><td><a href="/console/people/{{id}}">{{name}}</a></td><td>{{externalID}}</td><td>{{status}}</td><td>{{validity}}</td></tr>
        {{/people}}
        </tbody>
      </table>
      {{^people}}<p class="empty">Nobody matches.</p>{{/people}}
      {{#more}}<p class="hint">Showing the first {{shown}} of {{total}}; search to narrow.</p>{{/more}}
    </section>
    {{#canEnroll}}
    <section class="card">
      <h2>Add a person</h2>
      <form method="post" action="/console/people" class="grid" id="add-person">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" required maxlength="200"></label>
        <label>External id (HR number) <input name="external_id" maxlength="100"></label>
        <label>Valid from (UTC) <input name="valid_from" type="date"></label>
        <label>Valid until (UTC) <input name="valid_until" type="date"></label>
        <button type="submit">Add</button>
      </form>
    </section>
    {{/canEnroll}}
    {{> footer}}
    """

    static let person = """
    {{> header}}
    {{#person}}
    <section>
      <h1 id="person-name">{{name}}</h1>
      <p class="facts">#{{id}} · {{status}}{{#externalID}} · external id {{externalID}}{{/externalID}} · {{validity}}</p>
      {{#canEnroll}}
      <div class="row">
        <form method="post" action="/console/people/{{id}}/status">
          <input type="hidden" name="csrf" value="{{csrf}}">
          {{#active}}<input type="hidden" name="active" value="false"><button type="submit">Suspend</button>{{/active}}
          {{^active}}<input type="hidden" name="active" value="true"><button type="submit">Activate</button>{{/active}}
        </form>
        <form method="post" action="/console/people/{{id}}/validity" class="inline">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>From <input name="valid_from" type="date" value="{{validFrom}}"></label>
          <label>Until <input name="valid_until" type="date" value="{{validUntil}}"></label>
          <button type="submit">Set validity</button>
        </form>
      </div>
      {{/canEnroll}}
    </section>
    <section class="card">
      <h2>Face</h2>
      <p>{{templateCount}}</p>
      <ul class="templates">{{#templates}}<li>{{source}} ({{eyes}} px between the eyes, by {{by}})</li>{{/templates}}</ul>
      {{#canEnroll}}
      {{#enrollAvailable}}
      <form id="enroll" data-person="{{id}}" class="grid">
        <label>Photo (JPEG, PNG or WebP; it is not stored) <input type="file" name="photo" accept="image/jpeg,image/png,image/webp" required></label>
        <label class="check"><input type="checkbox" name="largest"> Several faces: use the largest</label>
        <button type="submit">Enroll</button>
      </form>
      <figure id="enroll-preview" hidden><img alt="The photo being enrolled"><figcaption id="enroll-result" role="status"></figcaption></figure>
      {{/enrollAvailable}}
      {{^enrollAvailable}}<p class="hint">This server was started without face models (warden server run needs the models directory), so photos cannot be enrolled here.</p>{{/enrollAvailable}}
      <h3>At a door's camera</h3>
      {{#hasCameraDoors}}
      <form id="capture" data-person="{{id}}" class="inline">
        <label>Door <select name="door">{{#cameraDoors}}<option value="{{door}}">{{door}} ({{controller}})</option>{{/cameraDoors}}</select></label>
        <label>Seconds <input name="seconds" type="number" min="5" max="60" value="20"></label>
        <button type="submit">Capture</button>
      </form>
      <p class="hint">The person stands at the door and turns slowly; the board chooses up to five faces, checks liveness and sends only their templates.</p>
      <p id="capture-status" role="status"></p>
      {{/hasCameraDoors}}
      {{^hasCameraDoors}}<p class="hint">No controller reports a door yet, so nobody can be enrolled at a camera.</p>{{/hasCameraDoors}}
      {{/canEnroll}}
    </section>
    <section class="card">
      <h2>Badges</h2>
      <table class="list"><thead><tr><th>Format</th><th>Facility</th><th>Card</th><th>Status</th><th></th></tr></thead><tbody>
      {{#badges}}
        <tr><td>{{format}}</td><td>{{facility}}</td><td>{{card}}</td><td>{{status}}</td>
        <td>{{#revocable}}<form method="post" action="/console/people/{{personID}}/badges/revoke"><input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="format" value="{{format}}"><input type="hidden" name="credential" value="{{facility}}:{{card}}"><button type="submit">Revoke</button></form>{{/revocable}}</td></tr>
      {{/badges}}
      </tbody></table>
      {{#canEnroll}}
      <form method="post" action="/console/people/{{id}}/badges" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Format <select name="format">{{#formats}}<option>{{.}}</option>{{/formats}}</select></label>
        <label>Credential (FACILITY:CARD) <input name="credential" required placeholder="12:34567"></label>
        <button type="submit">Issue badge</button>
      </form>
      {{/canEnroll}}
    </section>
    <section class="card">
      <h2>Groups</h2>
      <ul>{{#groups}}<li>{{name}}
        {{#canGrant}}<form method="post" action="/console/people/{{personID}}/groups" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="group" value="{{name}}"><input type="hidden" name="add" value="false"><button type="submit">Remove</button></form>{{/canGrant}}</li>{{/groups}}</ul>
      {{#canGrant}}
      <form method="post" action="/console/people/{{id}}/groups" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="add" value="true">
        <label>Group <select name="group">{{#allGroups}}<option>{{.}}</option>{{/allGroups}}</select></label>
        <button type="submit">Add to group</button>
      </form>
      {{/canGrant}}
    </section>
    {{#canEnroll}}
    <section class="card danger">
      <h2>Remove</h2>
      <form method="post" action="/console/people/{{id}}/remove" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label class="check"><input type="checkbox" name="confirm" value="yes" required> Delete this person, their templates, badges and grants, on every controller</label>
        <button type="submit">Remove person</button>
      </form>
    </section>
    {{/canEnroll}}
    {{/person}}
    {{> footer}}
    """

    static let access = """
    {{> header}}
    <section>
      <h1>Access</h1>
      {{^policyVersion}}<p class="notice error">No policy is published yet: <code>warden policy publish DIR</code>.</p>{{/policyVersion}}
      {{#policyVersion}}<p class="facts">Policy version {{policyVersion}} ({{site}}, {{timeZone}}).</p>{{/policyVersion}}
      <div class="cols">
        <div><h2>Zones</h2><ul>{{#zones}}<li><b>{{id}}</b> {{name}}{{#parent}} (in {{parent}}){{/parent}}</li>{{/zones}}</ul></div>
        <div><h2>Doors</h2><ul>{{#doors}}<li><b>{{id}}</b> into {{into}}{{#from}} from {{from}}{{/from}}: {{factors}}</li>{{/doors}}</ul></div>
        <div><h2>Schedules</h2><ul>{{#schedules}}<li><b>{{id}}</b> {{windows}}</li>{{/schedules}}</ul></div>
      </div>
    </section>
    <section class="card">
      <h2>Grants</h2>
      <table class="list"><thead><tr><th>#</th><th>Who</th><th>Zone</th><th>Schedule</th><th>Until</th><th>By</th><th></th></tr></thead><tbody>
      {{#grants}}
        <tr><td>{{id}}</td><td>{{who}}</td><td>{{zone}}</td><td>{{schedule}}</td><td>{{until}}</td><td>{{by}}</td>
        <td>{{#canGrant}}<form method="post" action="/console/access/grants/{{id}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Revoke</button></form>{{/canGrant}}</td></tr>
      {{/grants}}
      </tbody></table>
      {{#canGrant}}
      <form method="post" action="/console/access/grants" class="grid" id="grant">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Person (#id, external id or exact name) <input name="person"></label>
        <label>or group <select name="group"><option value="">(none)</option>{{#groupNames}}<option>{{.}}</option>{{/groupNames}}</select></label>
        <label>Zone <select name="zone">{{#zones}}<option>{{id}}</option>{{/zones}}</select></label>
        <label>Schedule <select name="schedule"><option value="">(always)</option>{{#schedules}}<option>{{id}}</option>{{/schedules}}</select></label>
        <label>Until (UTC) <input name="until" type="date"></label>
        <button type="submit">Grant</button>
      </form>
      {{/canGrant}}
    </section>
    <section class="card">
      <h2>Explain</h2>
      <p class="hint">May this person open this door at this time, and why not? Assumes a quiet site (no lockdown, nobody pending).</p>
      <form method="get" action="/console/access" class="grid" id="explain">
        <label>Person <input name="person" value="{{explainPerson}}" required></label>
        <label>Door <select name="door">{{#doors}}<option {{#selected}}selected{{/selected}}>{{id}}</option>{{/doors}}</select></label>
        <label>When (site time, YYYY-MM-DD HH:MM; empty: now) <input name="at" value="{{explainAt}}"></label>
        <label class="check"><input type="checkbox" name="badge" value="1" {{#withBadge}}checked{{/withBadge}}> badge</label>
        <label class="check"><input type="checkbox" name="face" value="1" {{#withFace}}checked{{/withFace}}> face (live)</label>
        <button type="submit">Explain</button>
      </form>
      {{#explained}}
      <div id="explanation" class="explanation {{verdictClass}}">
        <p><b>{{verdict}}</b>: {{who}} at {{door}}, {{when}}. Decided by {{rule}}; the door {{action}}.</p>
        {{#reasonsText}}<p>Why not: {{reasonsText}}</p>{{/reasonsText}}
        <ol>{{#steps}}<li>{{.}}</li>{{/steps}}</ol>
      </div>
      {{/explained}}
    </section>
    {{> footer}}
    """

    static let audit = """
    {{> header}}
    <section>
      <h1>Audit</h1>
      <form method="get" action="/console/audit" class="grid" id="audit-filter">
        <label>From (UTC) <input name="from" type="datetime-local" value="{{from}}"></label>
        <label>To (UTC) <input name="to" type="datetime-local" value="{{to}}"></label>
        <label>Controller <select name="controller"><option value="">(all)</option>{{#controllers}}<option {{#selected}}selected{{/selected}}>{{name}}</option>{{/controllers}}</select></label>
        <label>Door <input name="door" value="{{door}}"></label>
        <label>Person (#id) <input name="person" value="{{person}}"></label>
        <label>Event type (prefix: access., door., admin.) <input name="type" value="{{type}}"></label>
        <button type="submit">Filter</button>
      </form>
      <p class="row"><a class="button" id="export-csv" href="/console/audit/export?format=csv&{{query}}">Export CSV</a>
         <a class="button" href="/console/audit/export?format=jsonl&{{query}}">Export JSONL</a>
         <span class="hint">{{count}}{{#capped}} shown of more: narrow the filter or export{{/capped}}.</span></p>
      <table class="list events-table"><thead><tr><th>At</th><th>Controller</th><th>#</th><th>Type</th><th>Door</th><th>Person</th><th>Result</th><th>Detail</th></tr></thead><tbody>
      {{#rows}}<tr><td title="{{atUTC}} UTC">{{at}}</td><td>{{controller}}</td><td>{{seq}}</td><td>{{type}}</td><td>{{door}}</td><td>{{person}}</td><td>{{result}}</td><td>{{detail}}</td></tr>{{/rows}}
      </tbody></table>
    </section>
    <section class="card">
      <h2>Chain verification</h2>
      {{^verified}}<p><a class="button" id="verify" href="/console/audit?verify=1&{{query}}">Verify every controller's chain</a>
        <span class="hint">Reads and checks every stored row: gaps, broken links, rows changed after upload, controllers gone silent.</span></p>{{/verified}}
      <table class="list"><thead><tr><th>Controller</th><th>Rows</th><th>Last</th><th>Last seen</th><th>Status</th></tr></thead><tbody>
      {{#chains}}<tr class="{{#ok}}ok{{/ok}}{{^ok}}bad{{/ok}}"><td>{{controller}}</td><td>{{rows}}</td><td>{{highWater}}</td><td>{{lastSeen}}</td><td>{{status}}</td></tr>{{/chains}}
      </tbody></table>
    </section>
    {{> footer}}
    """

    static let controllers = """
    {{> header}}
    <section>
      <h1>Controllers</h1>
      <p class="facts">Site revision {{revision}}.</p>
      <table class="list"><thead><tr><th>Name</th><th>Status</th><th>Last seen</th><th>Version</th><th>Applied</th><th>Buffered</th><th>Doors</th><th></th></tr></thead><tbody>
      {{#controllers}}
        <tr class="{{health}}"><td>{{name}}</td><td>{{statusText}}</td><td>{{lastSeen}}</td><td>{{version}}</td><td>{{applied}}</td><td>{{buffered}}</td><td>{{doors}}</td>
        <td>{{#revocable}}<form method="post" action="/console/controllers/revoke" class="inline"><input type="hidden" name="csrf" value="{{csrf}}">
          <input type="hidden" name="name" value="{{name}}"><label class="check"><input type="checkbox" name="confirm" value="yes" required> sure</label>
          <button type="submit">Revoke</button></form>{{/revocable}}</td></tr>
      {{/controllers}}
      </tbody></table>
      {{^controllers}}<p class="empty">No controller has joined yet.</p>{{/controllers}}
    </section>
    {{#canManage}}
    <section class="card">
      <h2>Join a controller</h2>
      {{#token}}<div class="notice ok" id="join-token"><p>One-time token for <b>{{controller}}</b>, valid until {{expires}}. On the board run:</p>
        <pre>warden fleet join {{url}} --token {{value}}</pre><p class="hint">It is shown once.</p></div>{{/token}}
      <form method="post" action="/console/controllers/token" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Controller name (a-z, 0-9, '-') <input name="name" required pattern="[a-z0-9-]+"></label>
        <label>Valid for (minutes) <input name="minutes" type="number" min="1" max="10080" value="60"></label>
        <button type="submit">Make join token</button>
      </form>
    </section>
    {{/canManage}}
    {{> footer}}
    """

    static let error = """
    {{> header}}
    <section class="card narrow"><h1>{{heading}}</h1><p>{{message}}</p><p><a href="/console">Back to the board</a></p></section>
    {{> footer}}
    """
}
