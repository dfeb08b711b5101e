namespace Luffy.Trainer.Training;

/// <summary>Deterministic seeds derived from (run seed, step, purpose), so a resumed run draws exactly what the uninterrupted run drew.</summary>
public static class Seeds
{
    public static int Derive(int seed, long step, int purpose)
    {
        unchecked
        {
            ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)step * 0xBF58476D1CE4E5B9UL ^ (ulong)purpose * 0x94D049BB133111EBUL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z & 0x7FFFFFFF);
        }
    }
}
