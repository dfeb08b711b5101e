using static TorchSharp.torch;

namespace Luffy.Trainer.Model;

/// <summary>
/// Where a forward pass without cached tokens keeps its per-token states: one slot per distinct causal prefix instead of
/// one per (row, position). Under causal attention a position's state depends only on the real tokens up to it and their
/// position ids, so two rows that agree on those up to a position (the eight rows of one GRPO group agree on the whole
/// prompt) have the same state there, and padding positions (key mask 0) are seen by no real position at all. The
/// per-token work of a transformer (layer norms, the QKV, projection and MLP linears, residuals) then runs on the
/// (N, C) slots only, and attention alone sees the padded (B, T) layout, gathered from the slots. Gradients are exact:
/// a shared slot receives the sum of what its copies would have received. The plan is made on the host from the
/// batch's ids, positions and mask (on a GPU: one device-to-host copy of three (B, T) tensors per forward pass).
/// </summary>
internal sealed class TokenLayout : IDisposable
{
    private readonly Tensor source;
    private readonly Tensor owner;

    private TokenLayout(long batch, long length, long slots, Tensor source, Tensor owner)
    {
        Batch = batch;
        Length = length;
        Slots = slots;
        this.source = source;
        this.owner = owner;
    }

    /// <summary>Rows B of the padded layout.</summary>
    public long Batch { get; }

    /// <summary>Positions T of the padded layout.</summary>
    public long Length { get; }

    /// <summary>Distinct states N (≤ B·T).</summary>
    public long Slots { get; }

    /// <summary>
    /// The layout of a batch, or null when every (row, position) is its own slot (no padding, no shared prefix), so the
    /// plain (B, T) computation is as cheap.
    /// </summary>
    /// <param name="ids">(B, T) int64 token ids.</param>
    /// <param name="positionIds">(B, T) int64.</param>
    /// <param name="keyMask">(B, T), nonzero for real tokens.</param>
    public static TokenLayout? Of(Tensor ids, Tensor positionIds, Tensor keyMask)
    {
        long b = ids.shape[0], t = ids.shape[1];
        long[] idValues, positionValues, maskValues;
        using (NewDisposeScope())
        {
            idValues = ids.to_type(ScalarType.Int64).cpu().data<long>().ToArray();
            positionValues = positionIds.to_type(ScalarType.Int64).cpu().data<long>().ToArray();
            maskValues = keyMask.to_type(ScalarType.Int64).cpu().data<long>().ToArray();
        }
        var slots = new Dictionary<(long Parent, long Token, long Position), long>();
        var sourceValues = new long[b * t];
        var ownerValues = new List<long>();
        for (long row = 0; row < b; row++)
        {
            long parent = -1;
            for (long column = 0; column < t; column++)
            {
                long flat = row * t + column;
                if (maskValues[flat] == 0)
                {
                    // seen by no real position (its key is masked); any slot will do for its query, whose output is unused
                    sourceValues[flat] = 0;
                    continue;
                }
                var key = (parent, idValues[flat], positionValues[flat]);
                if (!slots.TryGetValue(key, out long slot))
                {
                    slot = ownerValues.Count;
                    slots.Add(key, slot);
                    ownerValues.Add(flat);
                }
                sourceValues[flat] = slot;
                parent = slot;
            }
        }
        if (ownerValues.Count == b * t || ownerValues.Count == 0)
        {
            return null;
        }
        Device device = ids.device;
        return new TokenLayout(b, t, ownerValues.Count, tensor(sourceValues, ScalarType.Int64, device), tensor(ownerValues.ToArray(), ScalarType.Int64, device));
    }

    /// <summary>The slots' token ids, (N) int64, of the (B, T) <paramref name="ids"/>.</summary>
    public Tensor SlotIds(Tensor ids) => ids.reshape(-1).index_select(0, owner);

    /// <summary>(B, T, C) of per-slot (N, C) states: each (row, position) reads its slot (a padding position: some slot).</summary>
    public Tensor Padded(Tensor slots) => slots.index_select(0, source).view(Batch, Length, -1);

    /// <summary>(N, C) per-slot states of a (B, T, C) tensor: each slot reads the (row, position) it was first seen at.</summary>
    public Tensor Packed(Tensor padded) => padded.reshape(Batch * Length, -1).index_select(0, owner);

    public void Dispose()
    {
        source.Dispose();
        owner.Dispose();
    }
}
