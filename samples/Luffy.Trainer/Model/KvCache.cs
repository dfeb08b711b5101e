using static TorchSharp.torch;

namespace Luffy.Trainer.Model;

/// <summary>Keys and values of every layer for the tokens seen so far, (B, H, L, D) each.</summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;

    public KvCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
    }

    public long Length => keys[0]?.shape[2] ?? 0;

    /// <summary>Appends this step's keys and values of a layer and returns the full (cached + new) ones.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        Tensor newKeys = keys[layer] is null ? k.detach().alias() : cat([keys[layer]!, k.detach()], 2);
        Tensor newValues = values[layer] is null ? v.detach().alias() : cat([values[layer]!, v.detach()], 2);
        keys[layer]?.Dispose();
        values[layer]?.Dispose();
        keys[layer] = newKeys.DetachFromDisposeScope();
        values[layer] = newValues.DetachFromDisposeScope();
        return (keys[layer]!, values[layer]!);
    }

    public void Dispose()
    {
        foreach (Tensor? t in keys.Concat(values))
        {
            t?.Dispose();
        }
    }
}
