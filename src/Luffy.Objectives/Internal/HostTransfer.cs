using static TorchSharp.torch;

namespace Luffy.Objectives.Internal;

/// <summary>Reads a tensor's values to the host in one transfer, disposing the host copy (no handle is left to the finalizer).</summary>
internal static class HostTransfer
{
    public static T[] Read<T>(Tensor values)
        where T : unmanaged
    {
        using var scope = NewDisposeScope();
        return values.cpu().data<T>().ToArray();
    }
}
