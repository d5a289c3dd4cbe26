import CampusPKI
import Testing

@Suite struct StudentIDTests {
    @Test(arguments: ["1155123456", "0000000000", "9999999999"])
    func acceptsTenDigits(_ text: String) throws {
        let id = try #require(StudentID(text))
        #expect(id.rawValue == text)
    }

    @Test(arguments: [
        "", "115512345", "11551234567", "115512345a", " 1155123456", "1155123456 ", "-155123456", "+155123456",
        "١١٥٥١٢٣٤٥٦", "1155 23456", "11551234５6",
    ])
    func refusesEverythingElse(_ text: String) {
        #expect(StudentID(text) == nil)
    }
}
