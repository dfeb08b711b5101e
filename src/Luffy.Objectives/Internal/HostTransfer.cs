using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>Reads a tensor's values to the host in one transfer, disposing the host copy (no handle is left to the finalizer).</summary>
internal static class HostTransfer
{
    [ThreadStatic]
    private static long reads;

    /// <summary>How many reads the library has made on the calling thread (for tests that prove a path is free of device syncs).</summary>
    public static long Reads => reads;

    public static T[] Read<T>(Tensor values)
        where T : unmanaged
    {
        reads++;
        using var scope = NewDisposeScope();
        return values.cpu().data<T>().ToArray();
    }
}
