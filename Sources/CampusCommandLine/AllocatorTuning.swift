#if canImport(Glibc)
    import Glibc
#endif

/// glibc's allocator, set for programs that move messages of up to a few MiB.
///
/// By default glibc gives freed memory back to the kernel as soon as more than 128 KiB are free at the top of a heap
/// (the threshold grows only after an `mmap`ed block is freed), so a server that receives, opens, hashes and stores
/// messages of 64 KiB or 1 MiB one after the other takes page faults on fresh pages for nearly every message: a tenth
/// of Blackboard's CPU for 64 KiB messages in a profile. Up to ``trimThreshold`` bytes free at the top of a heap are kept
/// for the next message, and blocks up to ``mmapThreshold`` come from the heaps instead of their own mappings. The cost
/// is memory that stays with the process after a burst, at most ``trimThreshold`` per heap.
public enum AllocatorTuning {
    /// Free bytes at the top of a heap kept rather than given back.
    public static let trimThreshold: Int32 = 32 << 20
    /// The smallest block given its own mapping.
    public static let mmapThreshold: Int32 = 4 << 20

    /// Sets both thresholds; call once, first thing in `main`. Returns whether glibc took both.
    @discardableResult
    public static func apply() -> Bool {
        #if canImport(Glibc)
            // `mallopt` is declared in <malloc.h>, which the Glibc module does not export.
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            guard let symbol = dlsym(nil, "mallopt") else { return false }
            let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
            // glibc's <malloc.h>: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3; mallopt returns 1 on success.
            return mallopt(-1, trimThreshold) == 1 && mallopt(-3, mmapThreshold) == 1
        #else
            return false
        #endif
    }
}
