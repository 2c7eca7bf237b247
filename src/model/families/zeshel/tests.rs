//! Tests of `model::families::zeshel`.

use super::*;
use crate::model::CrossEncoder;

/// A checkpoint through the one loader, as users load it.
fn load_ckpt(path: &Path, opts: &LoadOptions) -> Result<CrossEncoder, ModelError> {
    CrossEncoder::load(&path.to_string_lossy(), opts)
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zeshel")
}

#[test]
fn python_slicing() {
    let a = [1, 2, 3, 4, 5];
    assert_eq!(py_slice(&a, Some(-2), None), &[4, 5]);
    assert_eq!(py_slice(&a, Some(0), None), &a); // x[-0:] is the whole list
    assert_eq!(py_slice(&a, Some(2), None), &[3, 4, 5]); // x[-(-2):]
    assert_eq!(py_slice(&a, Some(-9), None), &a);
    assert_eq!(py_slice(&a, None, Some(2)), &[1, 2]);
    assert_eq!(py_slice(&a, None, Some(-2)), &[1, 2, 3]);
    assert_eq!(py_slice(&a, None, Some(-9)), &[] as &[i32]);
    assert_eq!(py_slice(&a, None, Some(0)), &[] as &[i32]);
    assert_eq!(py_slice(&a, None, Some(9)), &a);
}

#[test]
fn context_packing_follows_the_reference_quotas() {
    // short: everything fits, padded with 0
    let (ids, cut) = pack_context(&[10, 11], &[1, 20, 2], &[30], 5, 6, 16);
    assert_eq!(
        ids,
        vec![5, 10, 11, 1, 20, 2, 30, 6, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(cut, 0);
    // long left, short right: the left keeps its end and takes the right's slack
    let left: Vec<u32> = (100..120).collect();
    let (ids, cut) = pack_context(&left, &[1, 20, 2], &[30], 5, 6, 12);
    assert_eq!(ids, vec![5, 114, 115, 116, 117, 118, 119, 1, 20, 2, 30, 6]);
    assert_eq!(cut, 14);
    // left_quota == 0 keeps the whole left context (x[-0:]); [:max] then cuts
    let mention = [1, 20, 21, 22, 23, 24, 25, 26, 2]; // 9 of 12 → quota (3//2)-1 = 0
    let (ids, cut) = pack_context(&[100, 101, 102, 103], &mention, &[30, 31], 5, 6, 12);
    assert_eq!(ids, vec![5, 100, 101, 102, 103, 1, 20, 21, 22, 23, 24, 25]);
    assert_eq!(cut, 4 + 9 + 2 + 2 - 12);
}

#[test]
fn query_and_item_splitting() {
    let q = "the [unused0] Dog [unused1] barked";
    assert_eq!(split_query(q).unwrap(), ("the ", " Dog ", " barked"));
    assert_eq!(split_query("just text").unwrap(), ("", "just text", ""));
    assert!(split_query("a [unused0] b").is_err());
    assert!(split_query("a [unused1] b").is_err());
    assert_eq!(split_item("T [unused2] d"), ("T ", " d"));
    assert_eq!(split_item("T [unused2] "), ("T ", " "));
    assert_eq!(split_item("only text"), ("", "only text"));
}

#[test]
fn missing_tensor_is_named_with_its_file() {
    let path = data_dir().join("cls_crossenc_missing_tensor.ckpt");
    let err = match load_ckpt(&path, &LoadOptions::default()) {
        Ok(_) => panic!("a checkpoint missing a tensor loaded"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::MissingTensor { .. }),
        "unexpected error: {msg}"
    );
    assert!(
        msg.contains("model.encoder.bert_model.encoder.layer.1.output.dense.bias"),
        "{msg}"
    );
    assert!(msg.contains("cls_crossenc_missing_tensor.ckpt"), "{msg}");
}

#[test]
fn reads_the_reference_hyper_parameters() {
    let hp = read_hyper_parameters(&data_dir().join("emb_crossenc_zeshel.ckpt")).unwrap();
    assert_eq!(hp.cross_enc_type.as_deref(), Some("w_embeds"));
    assert_eq!(hp.pooling_type.as_deref(), Some("cls_w_lin"));
    assert_eq!(hp.max_input_len, Some(128));
    assert_eq!(hp.loss_type.as_deref(), Some("ce"));
    let hp = read_hyper_parameters(&data_dir().join("cls_crossenc_zeshel.ckpt")).unwrap();
    assert_eq!(hp.cross_enc_type.as_deref(), Some("default"));
    // no hyper_parameters at all
    assert_eq!(
        read_hyper_parameters(&data_dir().join("cls_crossenc_missing_tensor.ckpt")),
        None
    );
}

#[test]
fn pooling_choice() {
    let hp = |c: &str, p: &str| RefHyperParams {
        cross_enc_type: Some(c.into()),
        pooling_type: Some(p.into()),
        ..Default::default()
    };
    let w = hp("w_embeds", "cls_w_lin");
    assert_eq!(
        choose_pooling(None, Some(&w), false, "x.ckpt"),
        Ok(Pooling::WEmbeds)
    );
    let d = hp("default", "cls_w_lin");
    assert_eq!(
        choose_pooling(None, Some(&d), true, "x.ckpt"),
        Ok(Pooling::ClsWLin)
    );
    let c = hp("default", "cls");
    assert_eq!(
        choose_pooling(None, Some(&c), true, "x.ckpt"),
        Ok(Pooling::Cls)
    );
    assert!(choose_pooling(None, Some(&hp("default", "mean")), true, "x").is_err());
    // without hyper-parameters: the tensors, then the file name
    assert_eq!(
        choose_pooling(None, None, true, "emb_x.ckpt"),
        Ok(Pooling::ClsWLin)
    );
    assert_eq!(
        choose_pooling(None, None, false, "cls_x.ckpt"),
        Ok(Pooling::ClsWLin)
    );
    assert_eq!(
        choose_pooling(None, None, false, "emb_x.ckpt"),
        Ok(Pooling::WEmbeds)
    );
    // an explicit choice wins
    assert_eq!(
        choose_pooling(Some(Pooling::ClsPooler), Some(&w), false, "emb_x.ckpt"),
        Ok(Pooling::ClsWLin)
    );
}

#[test]
fn heads_need_a_config_when_hidden_is_not_a_multiple_of_64() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("cls_crossenc_zeshel.ckpt");
    std::fs::copy(data_dir().join("cls_crossenc_zeshel.ckpt"), &ckpt).unwrap();
    std::fs::copy(data_dir().join("vocab.txt"), tmp.path().join("vocab.txt")).unwrap();
    let msg = load_ckpt(&ckpt, &LoadOptions::default())
        .err()
        .expect("hidden 32 without config.json must not load")
        .to_string();
    assert!(msg.contains("config.json") && msg.contains("32"), "{msg}");
}

#[test]
fn infers_the_config_from_shapes() {
    let w = Weights::load(
        &data_dir().join("cls_crossenc_zeshel.ckpt"),
        Some("state_dict"),
        STATE_PREFIX,
    )
    .unwrap();
    let side = data_dir().join("config.json");
    let cfg = infer_config(&w, Path::new("x.ckpt"), Some(&side)).unwrap();
    assert_eq!(
        (
            cfg.hidden_size,
            cfg.num_hidden_layers,
            cfg.num_attention_heads
        ),
        (32, 2, 4)
    );
    assert_eq!(
        (cfg.intermediate_size, cfg.max_position_embeddings),
        (64, 256)
    );
    // a config that disagrees with the tensors is refused, naming the key
    let tmp = tempfile::tempdir().unwrap();
    let wrong = tmp.path().join("config.json");
    let text = std::fs::read_to_string(&side)
        .unwrap()
        .replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    std::fs::write(&wrong, text).unwrap();
    let msg = infer_config(&w, Path::new("x.ckpt"), Some(&wrong))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("num_hidden_layers"), "{msg}");
}

#[test]
fn a_missing_tokenizer_says_to_pass_one() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = tmp.path().join("emb_crossenc_zeshel.ckpt");
    std::fs::copy(data_dir().join("emb_crossenc_zeshel.ckpt"), &ckpt).unwrap();
    std::fs::copy(
        data_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let msg = load_ckpt(&ckpt, &LoadOptions::default())
        .err()
        .expect("no tokenizer anywhere")
        .to_string();
    assert!(msg.contains("--tokenizer"), "{msg}");
    let opts = LoadOptions {
        tokenizer: Some(data_dir().join("vocab.txt")),
        ..Default::default()
    };
    let model = load_ckpt(&ckpt, &opts).unwrap();
    assert_eq!(model.info().pooling, Pooling::WEmbeds);
}
