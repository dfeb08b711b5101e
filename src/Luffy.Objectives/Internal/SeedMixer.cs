namespace Luffy.Objectives.Internal;

/// <summary>Deterministic 32-bit seeds from several 64-bit values (SplitMix64 finalization of their combination).</summary>
internal static class SeedMixer
{
    /// <summary>A seed that depends only on (seed, a, b): the same inputs give the same seed on every machine and run.</summary>
    public static int Mix(int seed, long a, long b)
    {
        unchecked
        {
            ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)a * 0xBF58476D1CE4E5B9UL ^ (ulong)b * 0x94D049BB133111EBUL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z ^ (z >> 32));
        }
    }
}
