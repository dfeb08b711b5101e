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

    /// <summary>Keeps only the batch rows <paramref name="rows"/> ((B') int64 indices) of every layer's keys and values.</summary>
    public void KeepRows(Tensor rows)
    {
        for (int layer = 0; layer < keys.Length; layer++)
        {
            keys[layer] = Replace(keys[layer], rows);
            values[layer] = Replace(values[layer], rows);
        }

        static Tensor? Replace(Tensor? t, Tensor rows)
        {
            if (t is null)
            {
                return null;
            }
            Tensor kept = t.index_select(0, rows).DetachFromDisposeScope();
            t.Dispose();
            return kept;
        }
    }

    public void Dispose()
    {
        foreach (Tensor? t in keys.Concat(values))
        {
            t?.Dispose();
        }
    }
}
