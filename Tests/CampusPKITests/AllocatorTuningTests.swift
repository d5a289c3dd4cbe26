import CampusCommandLine
import Testing

@Suite struct AllocatorTuningTests {
    /// The servers and the student keep freed memory for the next message; glibc must take both thresholds.
    @Test func glibcTakesBothThresholds() {
        #if canImport(Glibc)
            #expect(AllocatorTuning.apply())
        #endif
        #expect(AllocatorTuning.mmapThreshold < AllocatorTuning.trimThreshold)
    }
}
