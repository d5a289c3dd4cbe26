import CampusPKI
import Foundation

/// `/throttle`: the network addresses whose wrong enrollment codes are refused for now, with a button that lifts
/// each (as `cuhk throttle clear`).
enum ThrottlePage {
    static let name = "throttle"

    static let template = """
        <p>An address (an IPv4 address, or an IPv6 /64 network) that sends {{attempts}} wrong enrollment codes, \
        regaining one every {{refill}}, is throttled for {{duration}}: until then its wrong codes get \
        <code>enrollment-throttled</code>. A right code is always accepted, from any address, so no student can be \
        locked out; <code>cuhk throttle list</code> and <code>cuhk throttle clear</code> do the same as this page.</p>
        {{#empty}}<p>No address is throttled now.</p>{{/empty}}
        {{^empty}}
        <div class="scroll"><table>
        <thead><tr><th>Address</th><th>Since</th><th>Until</th><th class="noprint"></th></tr></thead>
        <tbody>
        {{#addresses}}
        <tr><td><code>{{address}}</code></td><td>{{since}}</td><td>{{until}}</td>
        <td class="noprint"><form method="post" action="/throttle/clear">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="address" value="{{address}}">
        <button>Clear</button></form></td></tr>
        {{/addresses}}
        </tbody>
        </table></div>
        <form method="post" action="/throttle/clear">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="address" value="all">
        <button>Clear all</button></form>
        {{/empty}}
        """

    static func values(_ throttled: [ThrottledAddress], configuration: EnrollmentThrottle.Configuration, csrf: String)
        -> [String: Any]
    {
        [
            "empty": throttled.isEmpty,
            "attempts": configuration.attempts,
            "refill": DashboardFormat.duration(configuration.refill),
            "duration": DashboardFormat.duration(configuration.duration),
            "addresses": throttled.map { entry -> [String: Any] in
                [
                    "address": entry.address.description, "since": DashboardFormat.time(entry.since),
                    "until": DashboardFormat.time(entry.until), "csrf": csrf,
                ]
            },
        ]
    }
}
