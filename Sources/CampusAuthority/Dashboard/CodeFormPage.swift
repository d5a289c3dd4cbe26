import Foundation

/// `/codes`: the form that issues enrollment codes, to one student or to every student not yet enrolled.
enum CodeFormPage {
    static let name = "codes"

    static let template = """
        <p>A code lets one student enroll once. A new code replaces the student's old one; CUHK keeps only its \
        hash, so the codes are shown once, on a printable page of slips.</p>
        <form method="post" action="/codes">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="recipients" value="student">
        <fieldset><legend>One student</legend>
        <label>SID <input name="sid" value="{{sid}}" inputmode="numeric" pattern="[0-9]{10}" size="12" required></label>
        <label>valid for <select name="validity">{{#validities}}<option value="{{seconds}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/validities}}</select></label>
        <button>Issue a code</button>
        </fieldset>
        </form>
        <form method="post" action="/codes">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="recipients" value="unenrolled">
        <fieldset><legend>Every student not yet enrolled ({{unenrolled}})</legend>
        <label>valid for <select name="validity">{{#validities}}<option value="{{seconds}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/validities}}</select></label>
        <button>Issue codes</button>
        </fieldset>
        </form>
        """

    /// The validities offered, in seconds; ``EnrollmentCodes/defaultValidity`` is among them.
    static let validities: [TimeInterval] = [3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400]
    static func values(sid: String, unenrolled: Int) -> [String: Any] {
        var offered = validities
        if !offered.contains(EnrollmentCodes.defaultValidity) { offered.append(EnrollmentCodes.defaultValidity) }
        return [
            "sid": sid,
            "unenrolled": unenrolled,
            "validities": offered.sorted().map { seconds -> [String: Any] in
                [
                    "seconds": String(Int(seconds)), "label": DashboardFormat.duration(seconds),
                    "selected": seconds == EnrollmentCodes.defaultValidity,
                ]
            },
        ]
    }

    /// The validity a form asked for, if it is whole seconds within ``EnrollmentCodes/validityRange``.
    static func validity(_ field: String?) -> TimeInterval? {
        guard let field, let seconds = Int(field), EnrollmentCodes.validityRange.contains(Double(seconds)) else {
            return nil
        }
        return TimeInterval(seconds)
    }
}
