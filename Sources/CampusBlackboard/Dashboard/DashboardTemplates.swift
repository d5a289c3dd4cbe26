/// The Mustache templates of Blackboard's pages. `{{value}}` is HTML-escaped; every form carries `{{csrf}}`.
enum DashboardTemplates {
    static let all = [
        "assignments": assignments, "assignment": assignment, "student": student, "report": report,
    ]

    static let assignments = """
        <p class="muted">Refreshes every 10 s.{{#hasRoster}} Roster: {{rosterCount}}.{{/hasRoster}}
        {{^hasRoster}} No roster: import one with <code>blackboard roster import FILE.csv</code> to see who is missing.{{/hasRoster}}</p>
        <div class="scroll"><table>
        <tr><th>Assignment</th><th>Deadline</th><th>Late submissions</th><th>Status</th><th>Submitted</th><th>On time</th><th>Only late</th>{{#hasRoster}}<th>Missing</th>{{/hasRoster}}<th></th></tr>
        {{#assignments}}
        <tr><td><a href="/assignments/{{name}}">{{name}}</a></td><td>{{deadline}}</td><td>{{late}}</td>
        <td>{{#open}}open{{/open}}{{^open}}closed{{/open}}</td><td>{{submitted}}</td><td>{{onTime}}</td><td>{{lateCount}}</td>
        {{#missing}}<td>{{missing}}</td>{{/missing}}
        <td>{{#open}}<form class="inline" method="post" action="/assignments/{{name}}/close"><input type="hidden" name="csrf" value="{{csrf}}"><button>Close</button></form>{{/open}}</td></tr>
        {{/assignments}}
        </table></div>
        <fieldset class="noprint"><legend>Add an assignment</legend>
        <form method="post" action="/assignments">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Name <input name="name" required pattern="[A-Za-z0-9._-]{1,64}"></label>
        <label>Deadline <input name="deadline" placeholder="2026-12-01T23:59:59Z"></label>
        <label>Late submissions <select name="late"><option value="accept">accept, marked late</option><option value="refuse">refuse</option></select></label>
        <button>Add</button>
        </form></fieldset>
        """

    static let assignment = """
        <p>Deadline {{deadline}}; late submissions: {{late}}; {{#open}}open{{/open}}{{^open}}closed{{/open}}. The latest on-time submission of each student counts; a late resubmission is kept and listed on the student's page but does not replace it. Without an on-time submission, the latest late one counts. <span class="muted">Refreshes every 10 s.</span></p>
        <div class="scroll"><table>
        <tr><th>SID</th><th>Name</th><th>Counted submission</th><th>Status</th><th>Submissions</th><th>Late after it (not counted)</th><th>Bytes</th></tr>
        {{#rows}}
        <tr><td><a href="/students/{{sid}}">{{sid}}</a></td><td>{{name}}</td><td><a href="/reports/{{report}}">{{time}}</a></td>
        <td>{{#late}}<span class="late">late</span>{{/late}}{{^late}}<span class="ontime">on time</span>{{/late}}{{#revoked}} <span class="late">certificate revoked {{revokedAt}} ({{revokedReason}}), {{revokedWhen}}</span>{{/revoked}}</td><td>{{count}}</td><td>{{#hasLateAfter}}<a href="/students/{{sid}}"><span class="late">{{lateAfter}}</span></a>{{/hasLateAfter}}</td><td>{{bytes}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="7" class="muted">No submission yet.</td></tr>{{/rows}}
        </table></div>
        {{#hasMissing}}<h2>Missing</h2><ul>{{#missing}}<li>{{sid}} {{name}}</li>{{/missing}}</ul>{{/hasMissing}}
        {{#hasIncomplete}}<h2>Incomplete attempts</h2>
        <p class="muted">Sessions whose acknowledged messages are stored but which completed no report (the connection was lost, Blackboard stopped, or the session is still under way). They have no receipt and do not count as submissions; a student whose upload was cut off sends the whole report again.</p>
        <div class="scroll"><table>
        <tr><th>SID</th><th>Name</th><th>Assignment</th><th>Started</th><th>Messages stored</th><th>Bytes</th><th>Status</th></tr>
        {{#incomplete}}
        <tr><td><a href="/students/{{sid}}">{{sid}}</a></td><td>{{name}}</td><td><a href="/assignments/{{assignment}}">{{assignment}}</a></td><td>{{time}}</td><td>{{messages}}</td><td>{{bytes}}</td><td class="muted">incomplete, {{status}}</td></tr>
        {{/incomplete}}
        </table></div>{{/hasIncomplete}}
        <h2>Deadline manifests</h2>
        {{#hasManifests}}<div class="scroll"><table>
        <tr><th>Manifest</th><th>Receipts</th><th>Timestamped by CUHK</th><th>Published (no login)</th></tr>
        {{#manifests}}
        <tr><td>{{kind}}</td><td>{{size}}</td><td>{{timestamped}} {{delay}}{{#late}} <span class="late">later than the 5 minutes allowed</span>{{/late}}</td><td><a href="{{path}}" download="{{file}}">{{path}}</a></td></tr>
        {{/manifests}}
        </table></div>{{/hasManifests}}
        {{^hasManifests}}<p class="muted">None yet: the on-time manifest is made when the deadline passes, the late one when the assignment is closed.</p>{{/hasManifests}}
        """

    static let student = """
        <p>{{name}}</p>
        <div class="scroll"><table>
        <tr><th>Submission</th><th>Assignment</th><th>Committed</th><th>Status</th><th>Counts</th><th>Messages</th><th>Bytes</th></tr>
        {{#reports}}
        <tr><td><a href="/reports/{{report}}">{{report}}</a></td><td><a href="/assignments/{{assignment}}">{{assignment}}</a></td><td>{{time}}</td>
        <td>{{#late}}<span class="late">late</span>{{/late}}{{^late}}<span class="ontime">on time</span>{{/late}}{{#revoked}} <span class="late">certificate revoked {{revokedAt}} ({{revokedReason}}), {{revokedWhen}}</span>{{/revoked}}</td><td>{{#counts}}counts{{/counts}}{{^counts}}<span class="muted">kept, not counted</span>{{/counts}}</td><td>{{messages}}</td><td>{{bytes}}</td></tr>
        {{/reports}}
        {{^reports}}<tr><td colspan="7" class="muted">No submission.</td></tr>{{/reports}}
        </table></div>
        {{#hasIncomplete}}<h2>Incomplete attempts</h2>
        <p class="muted">Sessions whose acknowledged messages are stored but which completed no report (the connection was lost, Blackboard stopped, or the session is still under way). They have no receipt and do not count as submissions; a student whose upload was cut off sends the whole report again.</p>
        <div class="scroll"><table>
        <tr><th>SID</th><th>Name</th><th>Assignment</th><th>Started</th><th>Messages stored</th><th>Bytes</th><th>Status</th></tr>
        {{#incomplete}}
        <tr><td><a href="/students/{{sid}}">{{sid}}</a></td><td>{{name}}</td><td><a href="/assignments/{{assignment}}">{{assignment}}</a></td><td>{{time}}</td><td>{{messages}}</td><td>{{bytes}}</td><td class="muted">incomplete, {{status}}</td></tr>
        {{/incomplete}}
        </table></div>{{/hasIncomplete}}
        """

    static let report = """
        <p>Student <a href="/students/{{sid}}">{{sid}}</a>, assignment <a href="/assignments/{{assignment}}">{{assignment}}</a>,
        committed {{time}}, {{#late}}<span class="late">late</span>{{/late}}{{^late}}<span class="ontime">on time</span>{{/late}}{{#timestamped}}, by CUHK's timestamp of {{timestamped}}{{/timestamped}}{{^timestamped}} (no CUHK timestamp: the time is Blackboard's clock){{/timestamped}}.</p>
        {{#revoked}}<p><span class="late">CUHK revoked the certificate this report was made with (serial <code>{{serial}}</code>) at {{revokedAt}}, reason {{revokedReason}}: {{revokedWhen}}.</span> The report stays as it was received; with the reason keyCompromise, the key may already have been someone else's when it was made.</p>{{/revoked}}
        <p><a href="/reports/{{id}}/content">Download {{fileName}}</a> ({{contentType}}, {{bytes}} bytes, SHA-256 <code>{{sha256}}</code>)
        {{#hasReceipt}} · <a href="/reports/{{id}}/receipt.p7s">Download the signed receipt</a>{{/hasReceipt}}</p>
        <h2>Receipt</h2>
        <div class="scroll"><table>{{#fields}}<tr><th>{{key}}</th><td><code>{{value}}</code></td></tr>{{/fields}}</table></div>
        <h2>Messages</h2>
        <div class="scroll"><table>
        <tr><th>#</th><th>Received</th><th>Content</th></tr>
        {{#messages}}
        <tr><td>{{sequence}}</td><td>{{time}}</td><td>{{#isText}}<pre>{{text}}</pre>{{/isText}}{{^isText}}{{size}} bytes: <code>{{hex}}</code>…{{/isText}}</td></tr>
        {{/messages}}
        </table></div>
        """
}
